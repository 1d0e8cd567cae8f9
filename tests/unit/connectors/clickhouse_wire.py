"""ClickHouse without a server, for the driver's side of the wire: the column types the
migrations of `sql/clickhouse/` declare, byte buffers for clickhouse-driver's column writers
and readers, and a fake server speaking the native protocol on a local socket (hello, ping,
queries, inserts) built from the driver's own readers and writers. The fake decodes each
inserted block with the driver's column readers and can refuse an insert with a server error."""

from __future__ import annotations

import io
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

from clickhouse_driver import defines
from clickhouse_driver.block import BlockInfo, RowOrientedBlock
from clickhouse_driver.bufferedreader import BufferedSocketReader
from clickhouse_driver.bufferedwriter import BufferedSocketWriter
from clickhouse_driver.connection import ServerInfo
from clickhouse_driver.context import Context
from clickhouse_driver.protocol import ClientPacketTypes, ServerPacketTypes
from clickhouse_driver.reader import read_binary_str, read_binary_uint8, read_binary_uint64, read_binary_uint128
from clickhouse_driver.streams.native import BlockInputStream, BlockOutputStream
from clickhouse_driver.varint import read_varint, write_varint
from clickhouse_driver.writer import write_binary_int32, write_binary_str, write_binary_uint8, write_binary_uint64

from connectors.clickhouse.migrations import load_migrations

REVISION = defines.CLIENT_REVISION  # the newest protocol the driver speaks: no feature left out
_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*)\)\s*ENGINE", re.DOTALL)
_ALTER = re.compile(r"ALTER TABLE (\w+)\s+(.*)", re.DOTALL)
_ADD_COLUMN = re.compile(r"ADD COLUMN\s+(?:IF NOT EXISTS\s+)?(.*)", re.DOTALL)
_NOT_TYPE = re.compile(r"\s+(?:DEFAULT|MATERIALIZED|ALIAS|EPHEMERAL|CODEC|TTL|COMMENT|AFTER|FIRST)\b.*$", re.DOTALL)


def declared_columns() -> dict[str, dict[str, str]]:
    """Table -> column -> ClickHouse type, as the migrations declare them: the CREATE TABLE
    files, then the columns of each later `ALTER TABLE t ADD COLUMN ...` (columns that take no
    insert, MATERIALIZED or ALIAS, left out)."""
    tables: dict[str, dict[str, str]] = {}
    for migration in load_migrations():
        code = "\n".join(line.split("--", 1)[0] for line in migration.text.splitlines())
        if match := _TABLE.search(code):
            tables[match.group(1)] = _columns(_top_level_split(match.group(2)))
        elif match := _ALTER.search(code):
            added = [
                add.group(1)
                for clause in _top_level_split(match.group(2))
                if (add := _ADD_COLUMN.match(clause.strip()))
            ]
            tables[match.group(1)].update(_columns(added))
    return tables


def _columns(definitions: list[str]) -> dict[str, str]:
    columns = {}
    for definition in definitions:
        name, spec = definition.strip().split(None, 1)
        if not re.search(r"\s(MATERIALIZED|ALIAS)\s", f" {spec} "):
            columns[name] = _NOT_TYPE.sub("", spec).strip()
    return columns


def _top_level_split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return [part for part in [*parts, text[start:]] if part.strip()]


class FakeSocket:
    """Bytes the driver's buffered writer sends, for its buffered reader to receive."""

    def __init__(self) -> None:
        self.data = io.BytesIO()

    def sendall(self, data: bytes) -> None:
        self.data.write(data)

    def recv_into(self, buffer: Any, size: int = 0) -> int:
        return self.data.readinto(memoryview(buffer)[: size or len(buffer)])

    def writer(self) -> BufferedSocketWriter:
        return BufferedSocketWriter(self, defines.BUFFER_SIZE)

    def reader(self) -> BufferedSocketReader:
        self.data.seek(0)
        return BufferedSocketReader(self, defines.BUFFER_SIZE)


def driver_context() -> Context:
    """What the driver's column writers and readers consult: a server of the newest revision in UTC."""
    context = Context()
    context.server_info = ServerInfo("ClickHouse", 24, 8, 1, REVISION, "UTC", "fake", REVISION)
    context.settings = {}
    context.client_settings = {"use_numpy": False, "strings_as_bytes": False, "strings_encoding": "utf-8"}
    return context


Refusal = tuple[int, str]  # a server error: its code and message


class FakeClickHouse:
    """A server on 127.0.0.1 with the tables of `declared_columns()`: every insert is decoded
    into `inserted[table]` (dicts, as the driver reads them back), unless `refuse(table, rows)`
    returns a (code, message) the server answers with instead. SELECTs answer one row."""

    def __init__(self, refuse: Callable[[str, list[dict]], Refusal | None] = lambda table, rows: None) -> None:
        self.tables = declared_columns()
        self.refuse = refuse
        self.inserted: dict[str, list[dict]] = {}
        self.queries: list[str] = []
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._context = driver_context()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"clickhouse://default@127.0.0.1:{self.port}/crossings"

    def close(self) -> None:
        self._listener.close()

    def __enter__(self) -> FakeClickHouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(30)
        fin = BufferedSocketReader(connection, defines.BUFFER_SIZE)
        fout = BufferedSocketWriter(connection, defines.BUFFER_SIZE)
        try:
            self._hello(fin, fout)
            while True:
                packet = read_varint(fin)
                if packet == ClientPacketTypes.PING:
                    write_varint(ServerPacketTypes.PONG, fout)
                    fout.flush()
                elif packet == ClientPacketTypes.QUERY:
                    self._query(fin, fout)
                else:
                    raise AssertionError(f"unexpected client packet {packet}")
        except EOFError:
            pass  # the client hung up
        except Exception as error:  # noqa: BLE001 - kept for the test to show
            self.errors.append(error)
        finally:
            connection.close()

    def _hello(self, fin: Any, fout: Any) -> None:
        assert read_varint(fin) == ClientPacketTypes.HELLO
        read_binary_str(fin)  # client name
        read_varint(fin), read_varint(fin), read_varint(fin)  # major, minor, revision
        read_binary_str(fin), read_binary_str(fin), read_binary_str(fin)  # database, user, password
        write_varint(ServerPacketTypes.HELLO, fout)
        write_binary_str("ClickHouse", fout)
        write_varint(24, fout), write_varint(8, fout), write_varint(REVISION, fout)
        write_binary_str("UTC", fout), write_binary_str("fake", fout), write_varint(1, fout)
        write_varint(0, fout)  # no password complexity rules
        write_binary_uint64(0, fout)  # nonce
        fout.flush()
        read_binary_str(fin)  # the addendum: quota key

    def _query(self, fin: Any, fout: Any) -> None:
        read_binary_str(fin)  # query id
        self._client_info(fin)
        self._settings(fin)
        read_binary_str(fin)  # inter-server secret
        read_varint(fin), read_varint(fin)  # stage, compression
        query = read_binary_str(fin)
        self._settings(fin)  # parameters
        self.queries.append(query)
        assert self._data(fin).num_rows == 0  # no external tables
        insert = re.fullmatch(r"INSERT INTO (\w+) \(([^)]*)\) VALUES", query)
        if insert:
            self._insert(insert.group(1), [name.strip() for name in insert.group(2).split(",")], fin, fout)
        else:
            if query.startswith("SELECT"):
                self._send_block(fout, ServerPacketTypes.DATA, [("1", "UInt8")], [(1,)])
            write_varint(ServerPacketTypes.END_OF_STREAM, fout)
            fout.flush()

    def _insert(self, table: str, columns: list[str], fin: Any, fout: Any) -> None:
        types = [(name, self.tables[table][name]) for name in columns]
        write_varint(ServerPacketTypes.DATA, fout)  # the sample block: the columns and their types, no rows
        write_binary_str("", fout)
        BlockInfo().write(fout)
        write_varint(len(types), fout), write_varint(0, fout)
        for name, spec in types:
            write_binary_str(name, fout), write_binary_str(spec, fout), write_binary_uint8(0, fout)
        fout.flush()
        while (block := self._data(fin)).num_rows:
            rows = [dict(zip(columns, row)) for row in block.get_rows()]
            refusal = self.refuse(table, rows)
            if refusal is not None:
                write_varint(ServerPacketTypes.EXCEPTION, fout)
                write_binary_int32(refusal[0], fout)
                write_binary_str("DB::Exception", fout), write_binary_str(refusal[1], fout)
                write_binary_str("stack frames of the server", fout), write_binary_uint8(0, fout)
                fout.flush()
                return
            self.inserted.setdefault(table, []).extend(rows)
            self._send_block(fout, ServerPacketTypes.PROFILE_EVENTS, [], [])
        self._send_block(fout, ServerPacketTypes.PROFILE_EVENTS, [], [])
        write_varint(ServerPacketTypes.END_OF_STREAM, fout)
        fout.flush()

    def _data(self, fin: Any) -> Any:
        assert read_varint(fin) == ClientPacketTypes.DATA
        read_binary_str(fin)  # table name
        return BlockInputStream(fin, self._context).read()

    def _send_block(self, fout: Any, packet: int, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        write_varint(packet, fout)
        write_binary_str("", fout)
        BlockOutputStream(fout, self._context).write(RowOrientedBlock(columns, rows))

    @staticmethod
    def _client_info(fin: Any) -> None:
        if not read_binary_uint8(fin):  # query kind: none
            return
        for _ in range(3):  # initial user, query id, address
            read_binary_str(fin)
        read_binary_uint64(fin), read_binary_uint8(fin)  # start time, interface
        for _ in range(3):  # OS user, host name, client name
            read_binary_str(fin)
        read_varint(fin), read_varint(fin), read_varint(fin)  # version, revision
        read_binary_str(fin), read_varint(fin), read_varint(fin)  # quota key, distributed depth, patch
        if read_binary_uint8(fin):  # an OpenTelemetry header
            read_binary_uint128(fin), read_binary_uint64(fin), read_binary_str(fin), read_binary_uint8(fin)
        read_varint(fin), read_varint(fin), read_varint(fin)  # parallel replicas

    @staticmethod
    def _settings(fin: Any) -> dict[str, str]:
        settings = {}
        while name := read_binary_str(fin):
            read_binary_uint8(fin)  # flags
            settings[name] = read_binary_str(fin)
        return settings

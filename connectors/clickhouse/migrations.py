"""Applies the numbered DDL files of `sql/clickhouse/` in order, each once.

`000_schema_migrations.sql` (the runner's own table) runs every time; every other file runs
when its version is not yet recorded there, and is then recorded with its checksum. A file
changed after it was applied is an error: add a new numbered file instead. Files may use
`{retention_days}` and `{dead_letters_ttl_days}`, filled from the settings when the file is
applied. A file whose one statement sets a table's TTL (`ALTER TABLE t MODIFY TTL ...`) follows
its setting: it is applied again whenever the table's TTL is not the one it gives now.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from connectors.clickhouse.base import Warehouse, WarehouseError
from connectors.clickhouse.settings import ClickHouseSettings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "clickhouse"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_SETTINGS = ("retention_days", "dead_letters_ttl_days")  # {name} in a file: that ClickHouseSettings field
_TTL = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+MODIFY\s+TTL\s+(.+)", re.IGNORECASE | re.DOTALL)


class MigrationError(WarehouseError):
    """The migration files are inconsistent, or one of them failed (the message names it)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def rendered(self, settings: ClickHouseSettings) -> str:
        text = self.text
        for name in _SETTINGS:
            text = text.replace(f"{{{name}}}", str(getattr(settings, name)))
        return text


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The files of `folder` by version; a stray `.sql` name or a repeated version is an error."""
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: not named NNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path}: version {version} is also {migrations[version].path.name}")
        migrations[version] = Migration(version, match.group(2), path, path.read_text())
    if 0 not in migrations:
        raise MigrationError(f"{folder}: 000_schema_migrations.sql is missing")
    return [migrations[version] for version in sorted(migrations)]


def applied_versions(warehouse: Warehouse) -> dict[int, str]:
    """Version -> checksum of what has been applied."""
    rows = warehouse.query("SELECT version, checksum FROM schema_migrations FINAL").rows
    return {int(version): checksum for version, checksum in rows}


def migrate(warehouse: Warehouse, settings: ClickHouseSettings, folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply what is not applied yet; returns those migrations (empty when up to date)."""
    bookkeeping, *migrations = load_migrations(folder)
    _apply(warehouse, bookkeeping, settings)
    applied = applied_versions(warehouse)
    done = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"{migration.path} changed after it was applied as version "
                    f"{migration.version}: add a new numbered file instead"
                )
            if not _ttl_is_current(warehouse, migration.rendered(settings)):
                _apply(warehouse, migration, settings)  # its setting changed
                done.append(migration)
            continue
        _apply(warehouse, migration, settings)
        warehouse.insert(
            "schema_migrations",
            ["version", "name", "checksum"],
            [(migration.version, migration.name, migration.checksum)],
        )
        done.append(migration)
    return done


def _apply(warehouse: Warehouse, migration: Migration, settings: ClickHouseSettings) -> None:
    try:
        warehouse.command(migration.rendered(settings))
    except WarehouseError as error:
        raise MigrationError(f"{migration.path} failed: {error}") from error


def _ttl_is_current(warehouse: Warehouse, text: str) -> bool:
    """False when `text` sets a table's TTL (ALTER TABLE t MODIFY TTL expr) and the table's TTL
    is another, compared as ClickHouse writes both (`INTERVAL 30 DAY` is `toIntervalDay(30)`)."""
    statement = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()
    match = _TTL.fullmatch(statement)
    if match is None:
        return True
    table, expression = match.groups()
    formatted = warehouse.query("SELECT formatQuerySingleLine({sql:String})", {"sql": f"SELECT {expression}"})
    engine = warehouse.query(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}",
        {"table": table},
    )
    expected = formatted.rows[0][0].removeprefix("SELECT ")
    return bool(engine.rows) and f" TTL {expected} " in f" {engine.rows[0][0]} "

"""The job's transforms in process: a PyFlink table environment of the session (the local
mini-cluster, no broker), tables read from JSON-lines files written by the test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from itertools import count
from pathlib import Path

import pytest
from pyflink.common import RowKind
from pyflink.table import StreamTableEnvironment, Table

from deploy.services.settings import FlinkSettings
from pipeline.jobs.crossings import PARSED_COLUMNS
from pipeline.runtime import stream_environments
from pipeline.transforms.sql import register_functions
from schemas.privacy import PrivacySettings

_tables = count()
# this process's environment before a Python function ran in it: the in-process Python worker
# adds its own variables (PYFLINK_GATEWAY_DISABLED among them) for the rest of the session, which
# a child PyFlink process must not inherit
ENVIRONMENT_AT_START = dict(os.environ)


@pytest.fixture(scope="session", params=[1, 2], ids=["p1", "p2"])
def table_env(request) -> StreamTableEnvironment:
    """A table environment at parallelism 1, then 2, with our JVM functions."""
    _, env = stream_environments(FlinkSettings(), PrivacySettings(), request.param)
    register_functions(env)
    return env


def lines_table(
    env: StreamTableEnvironment,
    folder: Path,
    columns: str,
    lines: Iterable[str],
    format_options: str = "'format' = 'json'",
) -> Table:
    """A bounded table of `columns` (DDL, with any WATERMARK) over a file of `lines`; at its
    end the watermark passes everything, so event-time timers and windows fire."""
    name = f"lines_{next(_tables)}"
    path = folder / name
    path.mkdir()
    (path / "part-0").write_text("".join(f"{line}\n" for line in lines))
    env.execute_sql(
        f"CREATE TEMPORARY TABLE {name} ({columns}) "
        f"WITH ('connector' = 'filesystem', 'path' = '{path}', {format_options})"
    )
    return env.from_path(name)


def json_table(env: StreamTableEnvironment, folder: Path, columns: str, rows: Iterable[dict]) -> Table:
    return lines_table(env, folder, columns, (json.dumps(row) for row in rows))


# the raw records as the source gives them to the transforms: parsed, with their coordinates
RAW_COLUMNS = (
    f"{PARSED_COLUMNS}, `topic` STRING, `partition` INT, `offset` BIGINT, arrived_at TIMESTAMP(3), "
    "proctime AS PROCTIME(), "
    "WATERMARK FOR event_time AS event_time"
)


def raw_table(env: StreamTableEnvironment, folder: Path, records: Iterable[dict]) -> Table:
    """Parsed raw records in file order (one split: one reader, so a stable order at any
    parallelism); every column not given is NULL."""
    return json_table(env, folder, RAW_COLUMNS, records)


def collect(table: Table) -> list[dict]:
    names = table.get_schema().get_field_names()
    with table.execute().collect() as results:
        return [dict(zip(names, row)) for row in results]


def final_rows(table: Table, *key: str) -> dict[tuple, dict]:
    """The last value per `key` of an updating table (its changelog applied)."""
    names = table.get_schema().get_field_names()
    latest: dict[tuple, dict] = {}
    with table.execute().collect() as results:
        for row in results:
            values = dict(zip(names, row))
            if row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                latest[tuple(values[name] for name in key)] = values
            else:
                latest.pop(tuple(values[name] for name in key), None)
    return latest

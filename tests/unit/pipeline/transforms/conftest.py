"""The job's transforms in process: a PyFlink table environment of the session (the local
mini-cluster, no broker), tables read from JSON-lines files written by the test."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import count
from pathlib import Path

import pytest
from pyflink.table import StreamTableEnvironment, Table

from pipeline.runtime import stream_environments
from pipeline.transforms.sql import register_functions

_tables = count()


@pytest.fixture(scope="session", params=[1, 2], ids=["p1", "p2"])
def table_env(request) -> StreamTableEnvironment:
    """A table environment at parallelism 1, then 2, with our JVM functions."""
    _, env = stream_environments(request.param)
    register_functions(env)
    return env


def lines_table(env: StreamTableEnvironment, folder: Path, columns: str, lines: Iterable[str],
                format_options: str = "'format' = 'json'") -> Table:
    """A bounded table of `columns` (DDL, with any WATERMARK) over a file of `lines`; at its
    end the watermark passes everything, so event-time timers and windows fire."""
    name = f"lines_{next(_tables)}"
    path = folder / name
    path.mkdir()
    (path / "part-0").write_text("".join(f"{line}\n" for line in lines))
    env.execute_sql(f"CREATE TEMPORARY TABLE {name} ({columns}) "
                    f"WITH ('connector' = 'filesystem', 'path' = '{path}', {format_options})")
    return env.from_path(name)


def json_table(env: StreamTableEnvironment, folder: Path, columns: str, rows: Iterable[dict]) -> Table:
    return lines_table(env, folder, columns, (json.dumps(row) for row in rows))


def collect(table: Table) -> list[dict]:
    names = table.get_schema().get_field_names()
    with table.execute().collect() as results:
        return [dict(zip(names, row)) for row in results]

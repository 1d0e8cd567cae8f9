"""`crossings sql` parameters: parsing, and the checks that run before any warehouse opens."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.commands.common import UserError
from pipeline.commands.warehouse import bind_parameters, parse_param, query_parameters

QUERIES = Path(__file__).resolve().parents[3] / "sql" / "queries"


def test_parse_param():
    assert parse_param("date_from=2024-01-01") == ("date_from", "2024-01-01")
    assert parse_param("expr=a=b") == ("expr", "a=b")
    assert parse_param(" port_code =") == ("port_code", "")


@pytest.mark.parametrize("text", ["date_from", "=1", "1x=2", "a b=1"])
def test_parse_param_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=VALUE"):
        parse_param(text)


def test_query_parameters_with_types():
    sql = "SELECT 1 WHERE t >= {since:DateTime64(3, 'UTC')} AND d = { day : Date } AND d != {day:Date}"
    assert query_parameters(sql) == {"since": "DateTime64(3, 'UTC')", "day": "Date"}
    assert query_parameters("SELECT '{not a param}', {x:UInt8}") == {"x": "UInt8"}


def test_bind_parameters():
    sql = (QUERIES / "reconciliation.sql").read_text()
    given = [("date_from", "2024-01-01"), ("date_to", "2024-01-07"), ("scale", "0.1")]
    assert bind_parameters(sql, given) == dict(given)
    with pytest.raises(UserError, match=r"missing --param for date_to \(Date\), scale \(Float64\)"):
        bind_parameters(sql, given[:1])
    with pytest.raises(UserError, match="unknown --param port: the query takes date_from, date_to, scale"):
        bind_parameters(sql, [*given, ("port", "LUOHU")])
    with pytest.raises(UserError, match="--param scale is given twice"):
        bind_parameters(sql, [*given, ("scale", "1")])
    assert bind_parameters("SELECT 1", []) == {}


def test_cli_reports_missing_params_without_opening_the_warehouse(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CLICKHOUSE_DATA_PATH", str(tmp_path / "chdb"))
    code = main(["sql", "-f", str(QUERIES / "daily_crossings.sql"), "--param", "date_from=2024-01-01"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.strip() == "crossings sql: missing --param for date_to (Date)"
    assert not (tmp_path / "chdb").exists()


def test_cli_needs_sql_text_or_file(capsys):
    assert main(["sql"]) == 1
    assert "give the SQL text or -f FILE" in capsys.readouterr().err
    assert main(["sql", "-f", "/no/such/file.sql"]) == 1
    assert "cannot read /no/such/file.sql" in capsys.readouterr().err


def test_cli_rejects_a_malformed_param(capsys):
    with pytest.raises(SystemExit):
        main(["sql", "SELECT 1", "--param", "nothing"])
    assert "'nothing' is not NAME=VALUE" in capsys.readouterr().err


def test_sql_on_a_server_reads_as_the_analyst_without_the_writers_credentials(monkeypatch, tmp_path):
    from pipeline.commands import warehouse

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLICKHOUSE_URL", "clickhouse://crossings_writer:wr1ter@db.internal:9000/crossings")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "wr1ter")
    monkeypatch.setenv("CLICKHOUSE_ANALYST_PASSWORD", "r3ader")
    opened = []
    monkeypatch.setattr(warehouse, "open_warehouse", lambda settings: opened.append(settings) or "server")
    assert warehouse.open_for_sql(write=False) == "server"
    assert warehouse.open_for_sql(write=True) == "server"
    reader, writer = opened
    assert (reader.url, reader.user, reader.password.get_secret_value()) == (
        "clickhouse://db.internal:9000/crossings",
        "crossings_reader",
        "r3ader",
    )
    assert writer.url == "clickhouse://crossings_writer:wr1ter@db.internal:9000/crossings"
    monkeypatch.setenv("CLICKHOUSE_ANALYST_PASSWORD", "")
    with pytest.raises(UserError, match="CLICKHOUSE_ANALYST_PASSWORD is not set"):
        warehouse.open_for_sql(write=False)


def test_sql_takes_write():
    parser = argparse.ArgumentParser()
    from pipeline.commands.warehouse import register

    register(parser.add_subparsers())
    assert parser.parse_args(["sql", "SELECT 1"]).write is False
    assert parser.parse_args(["sql", "--write", "DROP TABLE x"]).write is True

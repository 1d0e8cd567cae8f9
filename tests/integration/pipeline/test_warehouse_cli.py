"""`crossings migrate`, `load-statistics` and `sql` as a user runs them: each in its own
process (chdb allows one session per process, and this test process has one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CROSSINGS = str(Path(sys.executable).parent / "crossings")
STATISTICS = ROOT.parent / "shared" / "data" / "hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv"


@pytest.fixture(scope="module")
def crossings(tmp_path_factory):
    """Runs `crossings ARGS` on a chdb data folder of its own, from an empty working folder."""
    workdir = tmp_path_factory.mktemp("warehouse-cli")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLICKHOUSE_")}
    env.update(CLICKHOUSE_DATA_PATH=str(workdir / "chdb"), COLUMNS="200")

    def run(*args: str, **more_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CROSSINGS, *args], cwd=workdir, env={**env, **more_env}, capture_output=True, text=True, timeout=120
        )

    return run


def test_migrate_then_nothing_to_do(crossings):
    first = crossings("migrate")
    assert first.returncode == 0, first.stderr
    assert "applied 001_crossings.sql" in first.stdout
    assert "applied 011_official_daily_traffic.sql" in first.stdout
    second = crossings("migrate")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "up to date: no migration to apply"


def test_load_statistics_then_reconcile(crossings, tmp_path):
    loaded = crossings("load-statistics", str(STATISTICS), "--from", "2024-01-01", "--to", "2024-01-02")
    assert loaded.returncode == 0, loaded.stderr
    # 2 days x 30 lines (15 control points x 2 directions) x 3 categories.
    assert "180 rows loaded into official_daily_traffic (60 CSV lines, 2 days)" in loaded.stdout

    result = crossings(
        "sql",
        "-f",
        str(ROOT / "sql" / "queries" / "reconciliation.sql"),
        "--param",
        "date_from=2024-01-01",
        "--param",
        "date_to=2024-01-01",
        "--param",
        "scale=0.1",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    rows = {(r["port_code"], r["direction"]): r for r in json.loads(result.stdout)}
    # Lo Wu arrival on 2024-01-01 (line 33664): 85877, 14525, 539 x 0.1 -> 8588 + 1452 + 54.
    assert rows["LUOHU", "exit"] == {
        "day": "2024-01-01",
        "port_code": "LUOHU",
        "direction": "exit",
        "expected": 10094,
        "actual": 0,
        "difference": -10094,
    }
    assert len(rows) == 14  # the seven land ports with an HK counterpart, both directions


def test_load_statistics_names_each_rejected_line_by_file_and_number_and_exits_1(crossings, tmp_path):
    csv = tmp_path / "stats.csv"
    csv.write_text(
        "Date,Control Point,Arrival / Departure,Hong Kong Residents,Mainland Visitors,Other Visitors,Total,\n"
        "01-01-2024,Lo Wu,Arrival,10,20,30,60,\n"
        "01-01-2024,Lo Wu,Departure,10,20,30,61,\n"
        "01-01-2024,Nowhere,Arrival,1,1,1,3,\n"
    )
    result = crossings("load-statistics", str(csv))
    assert result.returncode == 1, result.stderr  # the rest loaded, but a caller must notice
    assert "3 rows loaded into official_daily_traffic (1 CSV lines, 1 days)" in result.stdout
    assert "2 lines rejected, the rest loaded" in result.stdout
    assert f"{csv}:3: total mismatch" in result.stdout
    assert f"{csv}:4: unknown control point 'Nowhere'" in result.stdout


def test_sql_formats(crossings):
    query = "SELECT toUInt64(1) AS n, 'a,b' AS s, NULL AS z"
    assert crossings("sql", query, "--format", "csv").stdout == 'n,s,z\n1,"a,b",\n'
    assert json.loads(crossings("sql", query, "--format", "json").stdout) == [{"n": 1, "s": "a,b", "z": None}]
    table = crossings("sql", query)
    assert table.returncode == 0 and "a,b" in table.stdout and "1 rows" in table.stdout


def test_sql_errors_are_messages_not_tracebacks(crossings):
    result = crossings("sql", "SELECT nope FROM official_daily_traffic")
    assert result.returncode == 1
    assert result.stderr.startswith("crossings sql: ")
    assert "nope" in result.stderr and "Traceback" not in result.stderr
    missing = crossings("sql", "-f", str(ROOT / "sql" / "queries" / "busiest_hours.sql"))
    assert missing.returncode == 1
    assert "missing --param for date_from (Date), date_to (Date), port_code (String), kind (String)" in missing.stderr


def test_sql_is_read_only_unless_write(crossings):
    assert crossings("migrate").returncode == 0
    count = "SELECT count() AS n FROM official_daily_traffic"
    before = json.loads(crossings("sql", count, "--format", "json").stdout)[0]["n"]
    insert = (
        "INSERT INTO official_daily_traffic SELECT * FROM official_daily_traffic LIMIT 0 "
        "UNION ALL SELECT * FROM official_daily_traffic LIMIT 1"
    )
    for statement in (
        insert,
        "CREATE TABLE scratch (n UInt8) ENGINE = Memory",
        "DROP TABLE official_daily_traffic",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
    ):
        refused = crossings("sql", statement)
        assert refused.returncode == 1, statement
        assert "readonly mode" in refused.stderr and "--write" in refused.stderr, refused.stderr
    assert json.loads(crossings("sql", count, "--format", "json").stdout)[0]["n"] == before
    assert crossings("sql", "--write", "CREATE TABLE scratch (n UInt8) ENGINE = MergeTree ORDER BY n").returncode == 0
    assert crossings("sql", "--write", "INSERT INTO scratch VALUES (1), (2)").returncode == 0
    assert json.loads(crossings("sql", "SELECT sum(n) AS s FROM scratch", "--format", "json").stdout) == [{"s": 3}]
    dropped = crossings("sql", "--write", "DROP TABLE scratch")
    assert dropped.returncode == 0, dropped.stderr
    assert "scratch" not in crossings("sql", "SHOW TABLES", "--format", "csv").stdout


def _dead_letters_ttl(crossings) -> str:
    shown = crossings(
        "sql",
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'dead_letters'",
        "--format",
        "json",
    )
    return json.loads(shown.stdout)[0]["engine_full"]


def test_dead_letters_follow_their_ttl_setting_and_analysts_read_them_without_payload(crossings):
    assert crossings("migrate").returncode == 0
    assert "TTL detected_at + toIntervalDay(30) " in _dead_letters_ttl(crossings)
    changed = crossings("migrate", CLICKHOUSE_DEAD_LETTERS_TTL_DAYS="7")
    assert changed.stdout.strip() == "applied 013_dead_letters_ttl.sql", changed.stderr
    assert "TTL detected_at + toIntervalDay(7) " in _dead_letters_ttl(crossings)
    again = crossings("migrate", CLICKHOUSE_DEAD_LETTERS_TTL_DAYS="7")
    assert again.stdout.strip() == "up to date: no migration to apply"

    inserted = crossings(
        "sql",
        "--write",
        "INSERT INTO dead_letters VALUES "
        "('unknown-field: x', 'crossings.raw.traveller', 0, 1, '{}', now() - INTERVAL 8 DAY), "
        "('unknown-field: y', 'crossings.raw.traveller', 0, 2, '{}', now() - INTERVAL 6 DAY)",
    )
    assert inserted.returncode == 0, inserted.stderr
    assert crossings("sql", "--write", "OPTIMIZE TABLE dead_letters FINAL").returncode == 0
    rows = json.loads(crossings("sql", "SELECT * FROM dead_letter_reasons", "--format", "json").stdout)
    assert [(row["reason"], row["offset"]) for row in rows] == [("unknown-field: y", 2)]
    assert set(rows[0]) == {"reason", "topic", "partition", "offset", "detected_at"}
    assert crossings("migrate").stdout.strip() == "applied 013_dead_letters_ttl.sql"  # back to 30 days

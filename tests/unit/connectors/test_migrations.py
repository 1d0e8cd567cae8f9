"""The migration files: named and numbered so the runner can order them, one statement each."""

from __future__ import annotations

import pytest

from connectors.clickhouse.migrations import MIGRATIONS_DIR, MigrationError, load_migrations
from connectors.clickhouse.settings import ClickHouseSettings


def test_the_project_migrations_are_numbered_from_the_bookkeeping_table():
    migrations = load_migrations()
    assert migrations[0].name == "schema_migrations"
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    for migration in migrations:
        text = migration.rendered(ClickHouseSettings(retention_days=30))
        code = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
        assert text.lstrip().startswith("--"), f"{migration.path.name}: opens with what it holds"
        assert ";" not in "\n".join(code), f"{migration.path.name}: one statement per file, no ';'"
        assert "{retention_days}" not in text and "{dead_letters_ttl_days}" not in text


def test_retention_comes_from_the_settings():
    crossings = next(m for m in load_migrations() if m.name == "crossings")
    assert "INTERVAL 30 DAY" in crossings.rendered(ClickHouseSettings(retention_days=30))


def test_dead_letters_get_a_ttl_from_the_settings_and_analysts_a_view_without_the_payload():
    by_name = {m.name: m for m in load_migrations()}
    ttl = by_name["dead_letters_ttl"].rendered(ClickHouseSettings(dead_letters_ttl_days=7))
    assert ttl.splitlines()[-1] == "ALTER TABLE dead_letters MODIFY TTL detected_at + INTERVAL 7 DAY"
    assert ClickHouseSettings().dead_letters_ttl_days == 30
    view = by_name["dead_letter_reasons"].text
    assert "SQL SECURITY DEFINER" in view and "FROM dead_letters FINAL" in view
    assert "payload" not in "".join(line for line in view.splitlines() if not line.startswith("--"))
    assert by_name["dead_letter_reasons"].version > by_name["dead_letters"].version


@pytest.mark.parametrize(
    "names, error",
    [
        (["000_schema_migrations.sql", "1_bad.sql"], "not named NNN_name.sql"),
        (["000_schema_migrations.sql", "001_a.sql", "001_b.sql"], "version 1 is also"),
        (["001_a.sql"], "000_schema_migrations.sql is missing"),
    ],
)
def test_inconsistent_folders_are_refused(tmp_path, names, error):
    for name in names:
        (tmp_path / name).write_text("SELECT 1")
    with pytest.raises(MigrationError, match=error):
        load_migrations(tmp_path)


def test_the_folder_is_the_repository_one():
    assert MIGRATIONS_DIR.name == "clickhouse" and (MIGRATIONS_DIR / "000_schema_migrations.sql").is_file()

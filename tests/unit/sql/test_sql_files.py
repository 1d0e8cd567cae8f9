"""The SQL files that migrations do not cover: the analyst queries' headers, and the server
users and roles (not runnable on chdb, which has no users, but parsed by its parser)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.commands.warehouse import query_parameters

SQL = Path(__file__).resolve().parents[3] / "sql"
QUERIES = sorted((SQL / "queries").glob("*.sql"))
ROLES = sorted((SQL / "roles").glob("*.sql"))
PLACEHOLDER = re.compile(r"'\$\{CROSSINGS_[A-Z_]+_PASSWORD\}'")


def test_the_query_library_is_complete():
    assert [path.stem for path in QUERIES] == sorted(
        [
            "alert_history",
            "busiest_hours",
            "clearance_by_inspection_mode",
            "clearance_trend",
            "daily_crossings",
            "forecast_history",
            "freight_diversion",
            "port_clearance",
            "reconciliation",
        ]
    )


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_query_opens_with_its_question_and_parameters(path):
    text = path.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("--"))
    assert text.startswith("-- Question: ")
    assert "Parameters: " in header
    params = query_parameters(text)
    assert params, "every query takes at least a date range"
    for name, type_ in params.items():
        assert f"{{{name}:{type_}}}" in header, f"{name} is not described in the header"
    assert ";" not in _statement(path), "one statement, without a semicolon (clients differ on it)"


def test_role_files_are_numbered():
    assert [path.name[:4] for path in ROLES] == [f"{n:03d}_" for n in range(1, len(ROLES) + 1)]
    assert len(ROLES) >= 6


@pytest.mark.parametrize("path", ROLES, ids=lambda p: p.name)
def test_role_file_has_no_literal_password(path):
    statement = _statement(path)
    assert statement.count(";") == 0
    literals = re.findall(r"'[^']*'", statement)
    assert all(PLACEHOLDER.fullmatch(literal) for literal in literals), literals
    if "IDENTIFIED" in statement:
        assert re.search(r"IDENTIFIED WITH sha256_password BY " + PLACEHOLDER.pattern, statement)


def _chdb(statements: list[str], query: str) -> list[str]:
    """`query` for each statement (in place of {sql}, or as its String parameter `sql`), the
    first cell of its answer; chdb in a subprocess: this process may hold a chdb session."""
    script = (
        "import json, sys, chdb\n"
        "out = []\n"
        "for sql in json.load(sys.stdin):\n"
        f"    query = {query!r}.replace('{{sql}}', sql)\n"
        "    out.append(chdb.query(query, 'JSONCompact', params={'sql': sql}).bytes().decode())\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(statements), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(answer)["data"][0][0] for answer in json.loads(result.stdout)]


def test_role_files_parse_as_one_statement_each():
    """chdb's parser (EXPLAIN AST): chdb has no access storage to apply users, roles,
    profiles or quotas to (not even with a config naming one), so the server statements are
    checked parsed, not run."""
    statements = [" ".join(_statement(path).split()) for path in ROLES]
    roots = [ast.split(" ")[0] for ast in _chdb(statements, "EXPLAIN AST {sql}")]
    assert roots == [
        "CreateUserQuery",
        "GrantQuery",
        "CreateRoleQuery",
        "GrantQuery",
        "CreateUserQuery",
        "GrantQuery",
        "GrantQuery",
        "GrantQuery",
        "CreateSettingsProfileQuery",
        "CreateQuotaQuery",
    ]


def test_analysts_cannot_lift_their_bounds_nor_read_dead_letters_payloads():
    """The role files as ClickHouse's parser reads them back (formatQuerySingleLine)."""
    statements = {path.name: " ".join(_statement(path).split()) for path in ROLES}
    formatted = dict(zip(statements, _chdb(list(statements.values()), "SELECT formatQuerySingleLine({sql:String})")))
    profile = formatted["009_analyst_settings_profile.sql"]
    assert profile.startswith("CREATE SETTINGS PROFILE OR REPLACE `crossings_analyst_limits` SETTINGS ")
    assert profile.endswith(" TO crossings_analyst")
    assert "readonly = 2 CONST" in profile  # fixed: a session cannot lift it
    for setting in ("max_execution_time", "max_memory_usage"):  # bounded, and 0 (unlimited) refused
        bounds = re.search(setting + r" = (\d+) MIN (\d+) MAX (\d+)", profile)
        assert bounds and 1 <= int(bounds[2]) <= int(bounds[1]) <= int(bounds[3]), profile
    assert int(re.search(r"max_execution_time = \d+ MIN \d+ MAX (\d+)", profile)[1]) <= 300
    quota = formatted["010_analyst_quota.sql"]
    assert quota.startswith(
        "CREATE QUOTA OR REPLACE crossings_analyst_quota KEYED BY user_name FOR INTERVAL 1 hour MAX "
    )
    assert quota.endswith(" TO crossings_analyst")
    limits = dict(re.findall(r"(\w+) = (\d+)", quota))
    assert {"queries", "errors", "execution_time", "read_rows", "result_rows"} <= limits.keys()
    assert formatted["008_analyst_dead_letters_revoke.sql"] == (
        "REVOKE SELECT ON crossings.dead_letters FROM crossings_analyst"
    )
    assert formatted["004_analyst_grants.sql"] == "GRANT SELECT ON crossings.* TO crossings_analyst"


def test_analyst_role_is_readonly_2():
    role = _statement(SQL / "roles" / "003_analyst_role.sql")
    assert re.search(r"SETTINGS\s+readonly\s*=\s*2\b", role)


def _statement(path: Path) -> str:
    """The file without its comments and its final semicolon."""
    code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
    return code.strip().removesuffix(";").strip()

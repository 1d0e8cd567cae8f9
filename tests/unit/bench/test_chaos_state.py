"""The chaos suite's scan of the warehouse for clear identifiers of its input."""

from __future__ import annotations

from types import SimpleNamespace

from bench.chaos.inputs import CLEAR_IDENTIFIERS
from bench.chaos.state import clear_identifiers


class Tables:
    """A warehouse stand-in: `tables` maps each name to its rows."""

    def __init__(self, tables: dict[str, list[tuple]]) -> None:
        self.tables = tables

    def query(self, sql: str) -> SimpleNamespace:
        if sql.startswith("SELECT name FROM system.tables"):
            return SimpleNamespace(rows=[(name,) for name in self.tables])
        return SimpleNamespace(rows=self.tables[sql.split("`")[1]])


def test_every_row_holding_a_clear_identifier_in_any_column_is_counted_per_table():
    warehouse = Tables(
        {
            "crossings": [("3f2a", "LUOHU"), ("9c1e", "FUTIAN")],
            "dead_letters": [
                ("unknown-field: passport_no", f'{{"passport_no": "{CLEAR_IDENTIFIERS[1]}"}}'),
                ("invalid-field: subject_ref", '{"subject_ref": "0123abcd"}'),
                ("invalid-field: subject_ref", f'{{"subject_ref": "{CLEAR_IDENTIFIERS[0]}"}}'),
            ],
        }
    )
    assert clear_identifiers(warehouse) == {"crossings": 0, "dead_letters": 2}

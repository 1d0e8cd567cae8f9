"""The output message models are the one definition of each output contract: the Flink sinks,
the alert operator, the loader and the ClickHouse tables must agree with them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

from connectors.clickhouse.loader import TARGETS, message_columns
from connectors.kafka.topics import FORECAST, JOB_OUTPUTS
from schemas.outputs import Alert, base_type, flink_type, is_optional
from tests.unit.connectors.clickhouse_wire import declared_columns

REPO = Path(__file__).resolve().parents[3]
ALERT_OPERATOR = REPO / "pipeline" / "jvm" / "crossings" / "flink" / "AlertEpisodes.java"
MESSAGES = [spec for spec in (*JOB_OUTPUTS, FORECAST) if spec.message is not None]
# ClickHouse types a model's field type can be inserted into
COMPATIBLE = {
    datetime: r"DateTime(64)?\(.*\)",
    int: r"U?Int(8|16|32|64)",
    float: r"Float(32|64)",
    UUID: r"UUID",
    str: r"String|Enum(8|16)\(.*\)",
}


def clickhouse_accepts(field, column_type: str) -> bool:
    nullable = re.fullmatch(r"Nullable\((.*)\)", column_type)
    if bool(nullable) != is_optional(field):
        return False
    inner = re.sub(r"^LowCardinality\((.*)\)$", r"\1", nullable.group(1) if nullable else column_type)
    python_type = base_type(field.annotation)
    base = (
        next(kind for kind in COMPATIBLE if isinstance(python_type, type) and issubclass(python_type, kind))
        if isinstance(python_type, type)
        else str
    )  # Literal[...] values are text
    return re.fullmatch(COMPATIBLE[base], inner) is not None


@pytest.mark.parametrize("spec", MESSAGES, ids=lambda spec: spec.name)
def test_each_table_takes_its_message_fields_with_compatible_types(spec):
    table = TARGETS[spec.name].table
    columns = declared_columns()[table]
    assert TARGETS[spec.name].columns == message_columns(spec.message)
    for name, field in spec.message.model_fields.items():
        assert name in columns, f"table {table} has no column {name} of {spec.message.__name__}"
        assert clickhouse_accepts(field, columns[name]), (
            f"table {table}: column {name} is {columns[name]}, {spec.message.__name__}.{name} is {field.annotation}"
        )
    if spec.message.versioned:
        assert re.fullmatch(r"UInt64", columns["version"]), f"table {table} has no UInt64 version"


def test_a_changed_field_is_named_with_its_table():
    changed = {**declared_columns()["alerts"], "threshold_s": "String"}
    assert not clickhouse_accepts(Alert.model_fields["threshold_s"], changed["threshold_s"])
    assert not clickhouse_accepts(Alert.model_fields["ended_at"], "DateTime('UTC')")  # not Nullable


def test_the_alert_operator_emits_the_alert_model_beside_its_partition_keys():
    hint = re.search(r"@FunctionHint\(output = @DataTypeHint\((.*?)\)\)", ALERT_OPERATOR.read_text(), re.DOTALL)
    row_type = "".join(re.findall(r'"([^"]*)"', hint.group(1)))  # the Java string literals joined
    emitted = [
        tuple(column.strip().split(" ", 1)) for column in re.fullmatch(r"ROW<(.*)>", row_type).group(1).split(",")
    ]
    partition_keys = ("port_code", "kind", "direction")
    assert emitted == [
        (name, flink_type(field)) for name, field in Alert.model_fields.items() if name not in partition_keys
    ]

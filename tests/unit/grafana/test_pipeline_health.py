"""The pipeline-health board's PromQL against Prometheus's own tools: every panel expression
parses (`promtool check rules`), names only the metrics fixed for the exporters (Flink's
Prometheus reporter, the loader's and the dispatcher's), and returns series when those metrics
exist (`promtool test rules` on synthetic series): a typo in a name or a label fails here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from grafana.build import json_path

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus package) is not installed")

# the names every engineer exports under (issue 19), with the labels the panels group by
METRICS = {
    "flink_taskmanager_job_task_operator_numRecordsIn": {"job_name": "crossings", "task_name": "Source"},
    "flink_taskmanager_job_task_operator_numRecordsOut": {"job_name": "crossings", "task_name": "Source"},
    "flink_jobmanager_job_numberOfCompletedCheckpoints": {"job_name": "crossings"},
    "flink_jobmanager_job_lastCheckpointDuration": {"job_name": "crossings"},
    "flink_jobmanager_numRunningJobs": {},
    "crossings_loader_records_read_total": {"topic": "crossings.clean"},
    "crossings_loader_rows_loaded_total": {"table": "crossings"},
    "crossings_loader_insert_seconds": {"table": "crossings"},  # a histogram
    "crossings_loader_rejected_rows_total": {"table": "crossings"},
    "crossings_loader_consumer_lag": {"topic": "crossings.clean"},
    "crossings_loader_freshness_seconds": {"table": "crossings"},
    "crossings_dispatcher_consumer_lag": {"topic": "crossings.alerts"},
    "crossings_dispatcher_deliveries_total": {"receiver": "alertmanager"},
    "crossings_dispatcher_failed_deliveries_total": {"receiver": "alertmanager"},
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Grafana's variables in PromQL, as Grafana fills them for a 1-hour range of 1-minute steps
GRAFANA_VARIABLES = {"$__rate_interval": "4m", "$__interval": "1m", "$__range": "1h"}
FUNCTIONS = {"sum", "max", "min", "rate", "increase", "histogram_quantile", "by", "and", "or", "unless", "without"}


def expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables filled) of every Prometheus target."""
    board = json.loads(json_path("pipeline_health").read_text(encoding="utf-8"))
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == "prometheus":
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((panel["title"], expr))
    return found


def test_the_board_has_prometheus_panels_for_each_part_of_the_pipeline():
    titles = " ".join(title for title, _ in expressions()).lower()
    for part in ("records in", "records out", "lag", "freshness", "checkpoint", "dead letters", "deliveries"):
        assert part in titles, part
    assert "$" not in " ".join(expr for _, expr in expressions())


def test_every_metric_named_is_one_of_the_fixed_names():
    names = set(METRICS) | {name + suffix for name in METRICS for suffix in HISTOGRAM_SUFFIXES}
    for title, expr in expressions():
        without_strings = re.sub(r'"[^"]*"', '""', expr)
        without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|by \([^)]*\)", "", without_strings)
        used = {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", without_labels) if word not in FUNCTIONS}
        assert used and used <= names, (title, used - names)


def promtool(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def recording_rules() -> dict:
    return {
        "groups": [
            {
                "name": "pipeline_health_panels",
                "rules": [{"record": f"panel:{index}", "expr": expr} for index, (_, expr) in enumerate(expressions())],
            }
        ]
    }


@needs_promtool
def test_promtool_parses_every_panel_expression(tmp_path):
    (tmp_path / "panels.yaml").write_text(yaml.safe_dump(recording_rules()))
    result = promtool("check", "rules", "panels.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def series(name: str, labels: dict[str, str]) -> list[dict[str, str]]:
    """Synthetic samples of `name` every minute for 20 minutes: counters rising, gauges steady."""

    def one(metric: str, extra: dict[str, str], values: str) -> dict[str, str]:
        text = ", ".join(f'{key}="{value}"' for key, value in {**labels, **extra}.items())
        return {"series": f"{metric}{{{text}}}", "values": values}

    if name == "crossings_loader_insert_seconds":
        return [one(name + "_bucket", {"le": le}, f"0+{n}x20") for le, n in (("0.1", 5), ("1", 9), ("+Inf", 10))] + [
            one(name + "_count", {}, "0+10x20"),
            one(name + "_sum", {}, "0+2x20"),
        ]
    if name.endswith("_total") or "numRecords" in name or "numberOf" in name:
        extra = [one(name, {"table": "dead_letters"}, "0+3x20")] if name == "crossings_loader_rows_loaded_total" else []
        return [one(name, {}, "0+60x20"), *extra]
    return [one(name, {}, "1+0x20")]


@needs_promtool
def test_every_panel_expression_returns_series_from_the_fixed_metrics(tmp_path):
    """`absent(expr)` is empty at the 10th minute for every panel: each finds its metrics."""
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [item for name, labels in METRICS.items() for item in series(name, labels)],
                "promql_expr_test": [
                    {"expr": f"absent({expr})", "eval_time": "10m", "exp_samples": []} for _, expr in expressions()
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

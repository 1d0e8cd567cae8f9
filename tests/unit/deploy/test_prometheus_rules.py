"""The pipeline's own alert rules (deploy/prometheus/rules/*.yml) with the real promtool: they
load (`promtool check rules`), and their unit tests pass (`promtool test rules`), in which each
alert fires on series that break it and stays silent on healthy ones."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
RULE_FILES = sorted(PROMETHEUS.glob("rules/*.yml"))
RULE_TESTS = PROMETHEUS / "tests" / "pipeline.test.yml"
SCRAPE_CONFIGS = (PROMETHEUS / "compose.yml", PROMETHEUS / "kubernetes.yml")


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's prometheus (make setup checks it)"
    return path


def alert_names(path: Path) -> set[str]:
    return {rule["alert"] for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}


def test_every_rule_file_loads_in_promtool():
    assert RULE_FILES, "no deploy/prometheus/rules/*.yml"
    result = subprocess.run([promtool(), "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout + result.stderr


def test_the_rules_unit_tests_pass_in_promtool():
    result = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, cwd=RULE_TESTS.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_each_alert_is_tested_firing_and_silent():
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert [f"../rules/{path.name}" for path in RULE_FILES] == tests["rule_files"]
    checks = [check for case in tests["tests"] for check in case["alert_rule_test"]]
    for name in set().union(*map(alert_names, RULE_FILES)):
        outcomes = {bool(check["exp_alerts"]) for check in checks if check["alertname"] == name}
        assert outcomes == {True, False}, f"{name}: tested {'firing' if True in outcomes else 'silent'} only"


def test_promtool_fails_a_rule_test_that_expects_the_wrong_outcome(tmp_path):
    """The unit tests are not vacuous: expecting silence where an alert fires fails promtool."""
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = [str(path) for path in RULE_FILES]
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            check["exp_alerts"] = []
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(tests))
    result = subprocess.run([promtool(), "test", "rules", str(broken)], capture_output=True, text=True)
    assert result.returncode != 0
    for name in (
        "FlinkDown",
        "CrossingsJobNotRunning",
        "CrossingsLoaderLagging",
        "CrossingsDataStale",
        "CrossingsDeadLetterShareHigh",
    ):
        assert f"alertname: {name}," in result.stdout + result.stderr, name


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda path: path.name)
def test_every_alert_has_a_severity_and_a_summary(path):
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


@pytest.mark.parametrize("config", SCRAPE_CONFIGS, ids=lambda path: path.name)
def test_the_rules_select_jobs_the_prometheus_configs_scrape(config):
    """A rule on `job="..."` that no scrape job has never fires (or, under absent(), always)."""
    jobs = {scrape["job_name"] for scrape in yaml.safe_load(config.read_text())["scrape_configs"]}
    selected = {
        job
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        for job in re.findall(r'job="([^"]+)"', rule["expr"])
    }
    assert selected, "no rule selects a job"
    assert selected <= jobs, f"{config.name} scrapes no job {sorted(selected - jobs)}"

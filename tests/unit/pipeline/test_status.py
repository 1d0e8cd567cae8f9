"""`crossings status` without a stack: every service down is a problem naming it, and what
cannot be asked (the job, the loader) is unknown, not fine."""

from __future__ import annotations

import json

from deploy.services.settings import StatusSettings
from pipeline.cli import main
from pipeline.commands.status import pipeline_status

DOWN = {
    "kafka": {"bootstrap": None, "running": False},
    "flink": {"rest": None, "metrics": [], "running": False},
    "alertmanager": {"url": None, "running": False},
    "prometheus": {"url": None, "running": False},
}


def test_with_nothing_running_each_part_is_a_problem_naming_it():
    report = pipeline_status(DOWN, StatusSettings(_env_file=None))
    assert report["services"] == dict.fromkeys(DOWN, False)
    assert report["job"] == {"state": None} and report["loader"] == {"up": None} and report["episodes"] is None
    assert [problem.split(":")[0] for problem in report["problems"]] == [*DOWN, "loader"]
    assert report["problems"][-1] == "loader: unknown (Prometheus is not running)"


def test_the_command_exits_1_with_the_problems_on_stderr(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["problems"] == pipeline_status(DOWN, StatusSettings(_env_file=None))["problems"]
    assert "kafka: down" in err and "loader: unknown" in err

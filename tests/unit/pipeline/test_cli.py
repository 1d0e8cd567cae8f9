from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pipeline.cli import build_parser, main


def test_help_lists_every_subcommand():
    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subcommands.choices) == {
        "services", "generate", "replay", "job", "load", "migrate", "sql", "load-statistics", "alerts", "grafana", "report", "demo"}
    words = parser.format_help().split()  # argparse wraps and breaks lines after long names
    text = " ".join(words)
    for action in subcommands._choices_actions:
        assert action.dest in words and " ".join(action.help.split()) in text, action.dest


def test_console_script_is_installed():
    result = subprocess.run([str(Path(sys.executable).parent / "crossings"), "--help"], capture_output=True, text=True, check=True)
    assert "services" in result.stdout


def test_status_json_without_services(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["services", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "kafka": {"bootstrap": None, "running": False},
        "flink": {"rest": None, "running": False},
    }


def test_crashed_service_gives_a_message_not_a_traceback(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_pid = finished.pid
    (tmp_path / "var" / "services.json").write_text(json.dumps({
        "kafka": {"bootstrap": "127.0.0.1:1", "pids": [dead_pid], "log": "var/kafka/log/broker.out"},
        "flink": {"rest": "http://127.0.0.1:2", "pids": [dead_pid], "log": "var/flink/log"},
    }))
    assert main(["services", "status", "--json"]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["kafka"] == {"bootstrap": "127.0.0.1:1", "running": False}
    assert "kafka was started but is not running" in out.err
    assert "var/kafka/log/broker.out" in out.err
    assert "Traceback" not in out.err


def test_corrupt_state_file_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "services.json").write_text("{not json")
    assert main(["services", "down"]) == 1
    assert "var/services.json is not valid JSON" in capsys.readouterr().err

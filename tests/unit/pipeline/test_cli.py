from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import build_parser, main
from pipeline.commands.examples import EXAMPLES

CROSSINGS = str(Path(sys.executable).parent / "crossings")


def test_help_lists_every_subcommand():
    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subcommands.choices) == {
        "services",
        "status",
        "generate",
        "replay",
        "job",
        "forecast",
        "load",
        "migrate",
        "sql",
        "load-statistics",
        "alerts",
        "grafana",
        "report",
        "demo",
    }
    words = parser.format_help().split()  # argparse wraps and breaks lines after long names
    text = " ".join(words)
    for action in subcommands._choices_actions:
        assert action.dest in words and " ".join(action.help.split()) in text, action.dest


def test_console_script_is_installed():
    result = subprocess.run([CROSSINGS, "--help"], capture_output=True, text=True, check=True)
    assert "services" in result.stdout


def test_status_json_without_services(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["services", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "kafka": {"bootstrap": None, "running": False},
        "flink": {"rest": None, "metrics": [], "running": False},
        "alertmanager": {"url": None, "running": False},
        "prometheus": {"url": None, "running": False},
    }


def test_crashed_service_gives_a_message_not_a_traceback(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_pid = finished.pid
    (tmp_path / "var" / "services.json").write_text(
        json.dumps(
            {
                "kafka": {"bootstrap": "127.0.0.1:1", "pids": [dead_pid], "log": "var/kafka/log/broker.out"},
                "flink": {"rest": "http://127.0.0.1:2", "pids": [dead_pid], "log": "var/flink/log"},
            }
        )
    )
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


def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_2_and_help_still_works(tmp_path):
    env = {**os.environ, "LOADER_BATCH_ROWS": "abc", "FLINK_PARALLELISM": "two"}
    result = subprocess.run([CROSSINGS, "load", "--once"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "crossings load: LOADER_BATCH_ROWS: Input should be a valid integer, unable to parse string as an integer"
    ]
    for argv in (["--help"], ["load", "--help"], ["job", "submit", "--help"]):
        helped = subprocess.run([CROSSINGS, *argv], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert helped.returncode == 0 and "usage: crossings" in helped.stdout, (argv, helped.stderr)


@pytest.mark.parametrize(
    ("argv", "variable", "value"),
    [
        (["services", "status"], "KAFKA_PORT", "x"),
        (["services", "status"], "FLINK_TASKMANAGERS", "0"),
        (["migrate"], "CLICKHOUSE_RETENTION_DAYS", "0"),
        (["load", "--once", "--group", "g"], "LOADER_BACKOFF_MAX_MS", "soon"),
        (["alerts", "dispatch", "--once"], "ALERTS_TIMEOUT_S", "0"),
        (["grafana", "push"], "GRAFANA_TIMEOUT_S", "never"),
        (["grafana", "push", "--url", "http://grafana.test", "--token", "t"], "CLICKHOUSE_ANALYST_PORT", "70000"),
    ],
)
def test_each_command_reports_a_bad_setting_in_one_line(monkeypatch, tmp_path, capsys, argv, variable, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"crossings {argv[0]}: {variable}: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda sig: sig.name)
def test_a_stop_signal_ends_a_command_non_zero_saying_so(monkeypatch, capsys, sig):
    def starting(_stack):
        os.kill(os.getpid(), sig)
        time.sleep(5)

    monkeypatch.setattr("deploy.services.stack.LocalStack.up", starting)
    assert main(["services", "up"]) == 128 + sig
    assert f"crossings services: stopped by {sig.name}" in capsys.readouterr().err


def leaf_commands(parser, path=()):
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        yield path
    for action in subparsers:
        for name, command in action.choices.items():
            yield from leaf_commands(command, (*path, name))


def test_every_command_has_examples_in_its_help_and_each_example_parses():
    parser = build_parser()
    assert set(leaf_commands(parser)) == set(EXAMPLES)
    for path, examples in EXAMPLES.items():
        for example in examples:
            words = shlex.split(example)
            words = words[[word.split("=")[0].isupper() for word in words].index(False) :]  # VAR=value first
            assert words[0] == "crossings" and tuple(words[1 : 1 + len(path)]) == path, example
            build_parser().parse_args(words[1:])  # exits (fails the test) on a wrong option

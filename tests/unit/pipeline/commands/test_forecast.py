"""`crossings forecast`: the profiles' file is checked before a job starts, and named when
it is missing or not whole."""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from pipeline.commands import forecast
from pipeline.transforms.forecast import MINUTES_PER_DAY, Profile, profiles_to_json


@pytest.fixture(autouse=True)
def no_job(monkeypatch):
    """A job that would start records its script and arguments instead."""
    started = []
    monkeypatch.setattr(forecast, "run_local", lambda script, args, **kwargs: started.append((script, args)))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    return started


def test_a_missing_profile_file_is_one_line_naming_it(tmp_path, capsys, no_job):
    missing = tmp_path / "profiles.json"
    assert main(["forecast", "run", "--profile", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"crossings forecast: cannot read the forecast profiles {missing}") and err.count("\n") == 1
    assert no_job == []


@pytest.mark.parametrize(
    "text",
    ["not json", json.dumps({"profiles": [{"port_code": "LUOHU", "kind": "traveller", "direction": "exit"}]})],
    ids=["not-json", "not-whole"],
)
def test_an_invalid_profile_file_is_named(tmp_path, capsys, no_job, text):
    path = tmp_path / "profiles.json"
    path.write_text(text)
    assert main(["forecast", "run", "--profile", str(path)]) == 1
    assert f"the forecast profiles {path} are not valid" in capsys.readouterr().err
    assert no_job == []


def test_the_default_profile_comes_from_the_setting_and_reaches_the_job(tmp_path, monkeypatch, no_job):
    path = tmp_path / "learnt.json"
    profile = Profile((1.0,) * MINUTES_PER_DAY, (60.0,) * MINUTES_PER_DAY, {"lane-1": 30.0})
    path.write_text(profiles_to_json({("LUOHU", "traveller", "exit"): profile}))
    monkeypatch.setenv("PIPELINE_FORECAST_PROFILE", str(path))
    assert main(["forecast", "run", "--bounded"]) == 0
    ((script, args),) = no_job
    assert script == forecast.FORECAST_JOB_SCRIPT
    assert args == ["--bootstrap", "127.0.0.1:9", "--profile", str(path), "--parallelism", "1", "--bounded"]


class Warehouse:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_learn_writes_the_profiles_of_the_days_asked_for(tmp_path, monkeypatch, capsys):
    profile = Profile((2.0,) * MINUTES_PER_DAY, (90.0,) * MINUTES_PER_DAY, {"lane-1": 40.0})
    asked = []

    def learn_from_warehouse(warehouse, date_from, date_to):
        asked.append((date_from.isoformat(), date_to.isoformat()))
        return {("FUTIAN", "traveller", "entry"): profile}

    monkeypatch.setattr(forecast, "open_warehouse", lambda settings: Warehouse())
    monkeypatch.setattr(forecast, "learn_from_warehouse", learn_from_warehouse)
    path = tmp_path / "out" / "profiles.json"
    assert main(["forecast", "learn", "--to", "2026-11-20", "--days", "3", "--profile", str(path)]) == 0
    assert asked == [("2026-11-18", "2026-11-20")]
    assert forecast.profiles_from_json(path.read_text()) == {("FUTIAN", "traveller", "entry"): profile}
    assert (
        f"1 profiles (port, kind, direction) from 2026-11-18 to 2026-11-20 written to {path}" in capsys.readouterr().out
    )


def test_learn_from_an_empty_range_says_so_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(forecast, "open_warehouse", lambda settings: Warehouse())
    monkeypatch.setattr(forecast, "learn_from_warehouse", lambda warehouse, date_from, date_to: {})
    path = tmp_path / "profiles.json"
    assert main(["forecast", "learn", "--to", "2026-11-20", "--profile", str(path)]) == 1
    assert "no crossing released from 2026-11-14 to 2026-11-20" in capsys.readouterr().err
    assert not path.exists()

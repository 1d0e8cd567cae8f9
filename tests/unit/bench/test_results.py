"""The benchmark history lines and the commit they name."""

import json
import subprocess
from datetime import UTC, datetime, timedelta, timezone

from bench.results import append_result, git_revision, result_line


def git(repo, *args):
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True
    )


def test_result_line_starts_with_date_and_commit():
    at = datetime(2026, 11, 27, 13, 5, 9, tzinfo=timezone(timedelta(hours=8)))
    line = result_line({"benchmark": "pipeline", "events": 10}, {"commit": "abc1234", "dirty": True}, at)
    assert "\n" not in line
    assert json.loads(line) == {
        "date": "2026-11-27T05:05:09Z",
        "commit": "abc1234",
        "dirty": True,
        "benchmark": "pipeline",
        "events": 10,
    }
    assert list(json.loads(line))[:3] == ["date", "commit", "dirty"]


def test_revision_and_append(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.txt").write_text("a")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert git_revision(repo) == {"commit": head[: len(git_revision(repo)["commit"])], "dirty": False}
    assert len(git_revision(repo)["commit"]) >= 7

    history = tmp_path / "results.jsonl"
    append_result(history, {"events": 1}, repo)
    (repo / "a.txt").write_text("changed")
    append_result(history, {"events": 2}, repo)
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert [(line["events"], line["dirty"]) for line in lines] == [(1, False), (2, True)]
    assert datetime.fromisoformat(lines[0]["date"].replace("Z", "+00:00")) <= datetime.now(UTC)

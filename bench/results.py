"""The benchmark history: one JSON line per run, with its date and the commit it measured."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results.jsonl"


def git_revision(repo: Path) -> dict:
    """{commit: short sha, dirty: uncommitted changes to tracked or new files} of `repo`."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def result_line(document: dict, revision: dict, at: datetime) -> str:
    """One line of the history: when, which commit, then the benchmark's document."""
    return json.dumps(
        {"date": at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"), **revision, **document},
        separators=(",", ":"),
    )


def append_result(path: Path, document: dict, repo: Path) -> None:
    with path.open("a") as history:
        history.write(result_line(document, git_revision(repo), datetime.now(UTC)) + "\n")

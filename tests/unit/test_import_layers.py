"""The import layers of pyproject.toml (`lint-imports`, in `make lint`): kept by the code as it
is, and broken by one import that goes upward."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "connectors", "deploy", "pipeline", "grafana")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The Python files of every layered package and pyproject.toml, in a folder of their own."""
    for package in PACKAGES:
        for source in (REPO / package).rglob("*.py"):
            target = tmp_path / source.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(folder)},  # the copy, before the editable install
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_the_layers(copy: Path) -> None:
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("schemas/events.py", "from pipeline.settings import ALL_SETTINGS"),
        ("connectors/kafka/topics.py", "from deploy.services.settings import FlinkSettings"),
        ("deploy/services/flink.py", "from pipeline.runtime import JOB_NAME"),
        ("pipeline/jobs/crossings.py", "from pipeline.commands.common import UserError"),
    ],
)
def test_an_upward_import_breaks_them(copy: Path, module: str, upward: str) -> None:
    with (copy / module).open("a") as file:
        file.write(f"\n{upward}  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    importer = module.removesuffix(".py").replace("/", ".")
    imported = upward.split()[1]
    assert f"{importer} -> {imported}" in result.stdout

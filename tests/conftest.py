"""Tests under tests/integration need real services; everything else is a fast unit test."""

from pathlib import Path

import pytest

INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_integration = INTEGRATION in Path(item.path).parents
        item.add_marker(pytest.mark.integration if in_integration else pytest.mark.unit)

"""`pytest -m lab tests/vm --env vm`: the VM lab end to end (see test_vm_e2e.py)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--env", default="vm", help="VM lab environment (default: vm)")

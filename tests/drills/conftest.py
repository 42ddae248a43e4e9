"""Fault drills on a deployed lab cluster (`kubeforge deploy lab` first):

    pytest tests/drills --env lab

They stop and start lab machines, so they never run against anything but the lab."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubeforge import paths
from kubeforge.spec import ClusterSpec, load_spec


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--env", default="lab", help="lab environment to drill (default: lab)")


@pytest.fixture(scope="session")
def spec(pytestconfig: pytest.Config) -> ClusterSpec:
    s = load_spec(str(pytestconfig.getoption("env")))
    if s.lab is None:
        raise pytest.UsageError(f"{s.name} is not a lab environment: drills stop machines")
    return s


@pytest.fixture(scope="session")
def kubeconfig(spec: ClusterSpec) -> Path:
    path = paths.admin_kubeconfig(spec.name)
    if not path.is_file():
        pytest.fail(f"{path} is missing: deploy first (kubeforge deploy {spec.name})")
    return path


@pytest.fixture(scope="session")
def kubectl_bin(spec: ClusterSpec) -> Path:
    # the mirror's own kubectl, so the control host needs nothing installed
    v = spec.kubernetes.version
    path = paths.cache_dir() / "mirror" / "files" / "release" / f"v{v}" / "bin/linux/amd64/kubectl"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `kubeforge mirror build`")
    return path


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def kubectl(kubectl_bin: Path, kubeconfig: Path) -> Kubectl:
    def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(kubectl_bin), "--kubeconfig", str(kubeconfig),
                               f"--request-timeout={int(timeout)}s", *args],
                              capture_output=True, text=True, timeout=timeout + 5, check=False)
    return run


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (subprocess.SubprocessError, json.JSONDecodeError, KeyError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

"""testinfra checks run against the real hosts of an environment after a deploy:

    kubeforge verify lab        (= pytest tests/verify --ansible-inventory inventories/lab)

Each module names its hosts with `testinfra_hosts`; cluster-wide checks run kubectl on the first
control-plane node, network checks also run from the control host to the endpoint."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import testinfra
import testinfra.utils.ansible_runner
import yaml

KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"


def _inventory(config: pytest.Config) -> str:
    inv = config.getoption("ansible_inventory")
    if not inv:
        raise pytest.UsageError("pass --ansible-inventory inventories/ENV (kubeforge verify ENV)")
    return str(inv)


@pytest.fixture(scope="session")
def group_vars(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The rendered spec (kubeforge_* variables) of the environment under test."""
    from pathlib import Path

    path = Path(_inventory(pytestconfig)) / "group_vars" / "all" / "kubeforge.yml"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.fixture(scope="session")
def inventory_hosts(pytestconfig: pytest.Config) -> dict[str, list[str]]:
    runner = testinfra.utils.ansible_runner.AnsibleRunner(_inventory(pytestconfig))
    return {g: sorted(runner.get_hosts(g)) for g in ("cluster", "control_plane", "workers")}


@pytest.fixture(scope="session")
def first_cp(pytestconfig: pytest.Config, inventory_hosts: dict[str, list[str]]) -> Any:
    inv = _inventory(pytestconfig)
    name = inventory_hosts["control_plane"][0]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inv}")


# kubectl's own words for a request that never got an answer (a loaded kube-apiserver or the
# endpoint dropping a connection); such a request is asked again, the answer is judged as is
TRANSPORT = re.compile(r"unexpected EOF|Unable to connect to the server|connection refused|"
                       r"TLS handshake timeout|the server was unable to return a response|"
                       r"http2: client connection lost")


class Kubectl:
    def __init__(self, host: Any) -> None:
        self.host = host

    def run(self, args: str, check: bool = True, tries: int = 3) -> Any:
        res = self.host.run(f"{KUBECTL} {args}")
        for _ in range(tries - 1):
            if res.rc == 0 or not TRANSPORT.search(res.stderr):
                break
            time.sleep(5)
            res = self.host.run(f"{KUBECTL} {args}")
        if check:
            assert res.rc == 0, f"kubectl {args}: rc={res.rc}\n{res.stderr}"
        return res

    def json(self, args: str) -> Any:
        return json.loads(self.run(f"{args} -o json").stdout)


def condition(obj: dict[str, Any], kind: str = "Ready") -> bool:
    """Whether a Kubernetes object's status reports condition `kind` as True."""
    return any(c["type"] == kind and c["status"] == "True"
               for c in obj.get("status", {}).get("conditions", []))


@pytest.fixture(scope="session")
def kubectl(first_cp: Any) -> Iterator[Kubectl]:
    yield Kubectl(first_cp)

"""Drill: a spec that does not declare cgroup v1 is refused on the lab's cgroup v1 hosts before
anything changes. A copy of the environment's spec with `kubernetes.cgroup_v1: false` is
deployed: the preflight must fail on every node with the message that names the setting, and no
host may report a change."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge.spec import ClusterSpec, spec_path

from .remote import absolute_paths, env_arg, kubeforge

pytestmark = pytest.mark.lab

RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)


def test_undeclared_cgroup_v1_is_refused_before_any_change(
        spec: ClusterSpec, pytestconfig: pytest.Config, tmp_path: Path) -> None:
    if not spec.kubernetes.cgroup_v1:
        pytest.skip("the environment's hosts run cgroup v2")
    source = spec_path(env_arg(pytestconfig))
    data: dict[str, Any] = yaml.safe_load(source.read_text())
    absolute_paths(data, source.parent)
    data["kubernetes"]["cgroup_v1"] = False
    (tmp_path / "v2").mkdir()
    copy = tmp_path / "v2" / "cluster.yml"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))

    run = kubeforge("deploy", str(copy), timeout=600)
    assert run.returncode != 0, "a deploy onto cgroup v1 hosts without cgroup_v1: true must fail"
    assert "cgroup v1" in run.stdout and "kubernetes.cgroup_v1: true" in run.stdout
    assert "removing cgroup v1 support" in run.stdout
    # the deploy's recap, not the one of the clean-up after it (the CLI gives back the run locks)
    deployed = run.stdout.split("[kubeforge] giving back the run locks")[0]
    recap = {host: (int(changed), int(failed))
             for host, changed, failed in RECAP.findall(deployed)}
    for host in spec.hosts:
        changed, failed = recap.get(host.name, (-1, 0))
        assert changed == 0 and failed >= 1, f"{host.name}: changed={changed} failed={failed}"

"""Drill: a scale and an upgrade cut short converge on the next run.

- `kubeforge scale` adding one worker (a copy of the spec with one more host, its machine made by
  `lab.up`) is killed (SIGKILL of the whole run) 2 s into the worker's `kubeadm join`; the next
  scale joins it, and the one after has nothing to join and changes nothing.
- The cluster is rebuilt at the previous minor, then `kubeforge upgrade` is killed 20 s into
  `kubeadm upgrade apply` on the first control-plane node; the next upgrade brings every node to
  the spec's version, the one after has nothing to do, and a deploy reports changed=0.

Prints the time to converge after each cut. The upgrade part rebuilds the cluster: `make drills`
runs this file after the upgrade drill; it leaves the cluster at the spec's version."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import lab
from kubeforge.spec import ClusterSpec, load_spec, spec_path

from .conftest import Kubectl, wait_for
from .cuts import Cut, cut_run
from .remote import absolute_paths, kubeforge, not_ready_nodes
from .test_scale_remove import _changed, _free_addresses
from .test_upgrade import _all_at, old_spec  # noqa: F401 (a fixture)

pytestmark = pytest.mark.lab

NEW_WORKER = "drill-cut-w"
SCALE_CUT = Cut("worker's kubeadm join", " : Run kubeadm join | worker]", 2, signal.SIGKILL)
UPGRADE_CUT = Cut("kubeadm upgrade apply", " : Run kubeadm upgrade apply (control plane of this "
                  "node and the cluster's add-ons)]", 20, signal.SIGKILL)


@pytest.fixture
def one_more_worker(spec: ClusterSpec, tmp_path: Path, pytestconfig: pytest.Config,
                    ) -> Iterator[Path]:
    """A copy of the spec with one more worker, its machine up; removed again at the end."""
    src = spec_path(str(pytestconfig.getoption("env")))
    data: dict[str, Any] = yaml.safe_load(src.read_text())
    absolute_paths(data, src.parent)
    data["hosts"] = [*data["hosts"], {"name": NEW_WORKER, "address": _free_addresses(spec, 1)[0],
                                      "roles": ["worker"]}]
    (tmp_path / "env").mkdir()
    spec_file = tmp_path / "env" / "cluster.yml"
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    copy = load_spec(str(spec_file))
    lab.up(copy)
    try:
        yield spec_file
    finally:
        kubeforge("remove-node", str(spec_file), NEW_WORKER)
        lab.remove_machine(copy, NEW_WORKER)


def test_a_cut_scale_converges_on_the_next_run(one_more_worker: Path, kubectl: Kubectl) -> None:
    cut_run(["scale", str(one_more_worker)], SCALE_CUT)
    again = kubeforge("scale", str(one_more_worker), timeout=1800)
    print(f"converged after a {SCALE_CUT.sig.name} in the {SCALE_CUT.where}: {again.took:.0f} s")
    assert again.returncode == 0, again.stdout[-4000:]
    assert wait_for("every node Ready", lambda: not_ready_nodes(kubectl) == [], 300, 5)
    names = kubectl("get", "nodes", "-o", "name").stdout.split()
    assert f"node/{NEW_WORKER}" in names, names
    noop = kubeforge("scale", str(one_more_worker))
    assert noop.returncode == 0 and "nothing to join" in noop.stdout, noop.stdout[-3000:]
    assert sum(_changed(noop.stdout).values()) == 0, noop.stdout[-3000:]


def test_a_cut_upgrade_converges_on_the_next_run(
        spec: ClusterSpec, pytestconfig: pytest.Config, old_spec: Path,  # noqa: F811
        kubectl: Kubectl) -> None:
    env = str(pytestconfig.getoption("env"))
    new = spec.kubernetes.version
    old = str(yaml.safe_load(old_spec.read_text())["kubernetes"]["version"])
    assert kubeforge("reset", str(old_spec), timeout=900).returncode == 0, "reset failed"
    assert kubeforge("deploy", str(old_spec), timeout=2400).returncode == 0, f"deploy {old} failed"
    assert wait_for(f"every node Ready at {old}", lambda: _all_at(kubectl, spec, old), 300)

    cut_run(["upgrade", env], UPGRADE_CUT, timeout=2400)
    again = kubeforge("upgrade", env, timeout=3600)
    print(f"converged after a {UPGRADE_CUT.sig.name} in {UPGRADE_CUT.where}: {again.took:.0f} s")
    assert again.returncode == 0, again.stdout[-4000:]
    assert wait_for(f"every node Ready at {new}", lambda: _all_at(kubectl, spec, new), 300)
    done = kubeforge("upgrade", env, timeout=900)
    assert done.returncode == 0 and "Nothing to do" in done.stdout, done.stdout[-3000:]
    noop = kubeforge("deploy", env, "--expect-no-changes", timeout=1800)
    assert noop.returncode == 0, noop.stdout[-4000:]

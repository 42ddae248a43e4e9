"""`kubeforge render`: deterministic output that Ansible reads as an inventory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubeforge import artifacts, paths, versions
from kubeforge.errors import KubeforgeError
from kubeforge.render import kubeadm_timeouts, leader_election_args, nodes, render
from kubeforge.spec import load_spec


def _render_lab(out: Path) -> dict[Path, bytes]:
    render(load_spec("lab"), out)
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_render_is_byte_identical(tmp_path: Path, lab_files: Path) -> None:
    first = _render_lab(tmp_path / "a")
    second = _render_lab(tmp_path / "a")
    third = _render_lab(tmp_path / "b")
    assert first == second == third
    assert set(first) == {Path("hosts.yml"), Path("group_vars/all/kubeforge.yml")}


def test_second_render_reports_unchanged(tmp_path: Path, lab_files: Path) -> None:
    spec = load_spec("lab")
    assert all(r.changed for r in render(spec, tmp_path))
    assert not any(r.changed for r in render(spec, tmp_path))


def test_render_group_vars(tmp_path: Path, lab_files: Path) -> None:
    render(load_spec("lab"), tmp_path)
    gv = yaml.safe_load((tmp_path / "group_vars/all/kubeforge.yml").read_text())
    assert gv["kubeforge_control_plane_endpoint"]["target"] == "10.240.0.100:6443"
    assert gv["kubeforge_network"]["cluster_dns"] == "10.96.0.10"
    kubeadm = gv["kubeforge_artifacts"]["kubeadm"]
    assert kubeadm["url"] == "http://10.240.0.1:8080/release/v1.37.2/bin/linux/amd64/kubeadm"
    assert kubeadm["sha256"] == "a" * 64  # from the mirror's table, not upstream's
    assert gv["kubeforge_images"]["etcd"].startswith("registry.k8s.io/etcd:")


def test_the_node_list_follows_the_inventory_order(lab_files: Path) -> None:
    spec = load_spec("lab")
    spec.hosts.insert(0, spec.hosts.pop())  # w2 first in the spec
    listed = nodes(spec)
    # the inventory's order: the control-plane group, then the workers, each in the spec's order
    assert [n["name"] for n in listed] == ["cp1", "cp2", "cp3", "w2", "w1"]
    assert listed[0]["address"] == "10.240.0.11"


def test_missing_checksum_is_a_clear_error(tmp_path: Path, lab_files: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither the mirror's table nor upstream's knows runc.
    monkeypatch.setattr(artifacts, "upstream_checksums", lambda: {})
    table = lab_files / "mirror" / "checksums.yml"
    data = yaml.safe_load(table.read_text())
    del data["runc"]
    table.write_text(yaml.safe_dump(data))
    runc = versions.RELEASES[versions.DEFAULT_KUBERNETES].runc
    with pytest.raises(KubeforgeError, match=f"no pinned sha256 for: runc {runc} "):
        render(load_spec("lab"), tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing may be half-written"


@pytest.mark.skipif(shutil.which("ansible-inventory", path=str(Path(sys.executable).parent))
                    is None, reason="ansible-core is not installed in this environment")
def test_ansible_reads_the_rendered_inventory(tmp_path: Path, lab_files: Path) -> None:
    inv = tmp_path / "inventories" / "lab"
    inv.mkdir(parents=True)
    for name in ("cluster.yml", "echo-values.yaml"):
        shutil.copy(paths.inventories_dir() / "lab" / name, inv)
    shutil.copytree(paths.ROOT / "charts", tmp_path / "charts")  # the lab's local charts
    render(load_spec(inv), inv)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inv), "--list"],
        check=True, capture_output=True, text=True, cwd=paths.ROOT)
    data = json.loads(out.stdout)
    assert data["control_plane"]["hosts"] == ["cp1", "cp2", "cp3"]
    assert data["workers"]["hosts"] == ["w1", "w2"]
    assert "control_plane" in data["etcd"]["children"]
    cp1 = data["_meta"]["hostvars"]["cp1"]
    assert cp1["ansible_host"] == "10.240.0.11"
    assert "StrictHostKeyChecking=yes" in cp1["ansible_ssh_common_args"]
    assert cp1["kubeforge_kubernetes_version"] == "1.37.2"  # group_vars were loaded
    assert "[WARNING]" not in out.stderr, out.stderr  # cluster.yml is not parsed as inventory


def test_kubeadm_timeouts_scale_kubeadms_own() -> None:
    assert kubeadm_timeouts(1) == {}  # kubeadm keeps its defaults
    scaled = kubeadm_timeouts(3)
    assert scaled["controlPlaneComponentHealthCheck"] == "12m0s"
    assert scaled["kubernetesAPICall"] == "3m0s"


def test_leader_election_scales_with_the_hosts() -> None:
    assert leader_election_args(1) == []  # the components keep their defaults
    assert leader_election_args(3) == [
        {"name": "leader-elect-lease-duration", "value": "45s"},
        {"name": "leader-elect-renew-deadline", "value": "30s"},
        {"name": "leader-elect-retry-period", "value": "6s"}]

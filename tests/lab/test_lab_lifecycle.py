"""The lab for real: up -> status -> ssh -> containers inside -> stop/start -> down, twice.

Runs as root on a host with systemd-nspawn and debootstrap; uses its own small lab
(tests/lab/cluster.yml: lab `kftest`, bridge kf-test0, 10.241.0.0/24) so it never touches the
main lab. Run with: `pytest -m lab tests/lab`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeforge.lab import machine, ops, ssh
from kubeforge.lab.model import LabPlan, load_plan

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="needs systemd-container"),
]

SPEC = Path(__file__).with_name("cluster.yml")


@pytest.fixture(scope="module")
def plan() -> Iterator[LabPlan]:
    p = load_plan(SPEC)
    ops.down(p)  # a previous run that died half-way
    yield p
    ops.down(p)


def sh(plan: LabPlan, host: str, command: str, timeout: float = 120) -> str:
    proc = subprocess.run(ssh.ssh_argv(plan, plan.machine(host), [command]),
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{host}: {command}: {proc.stderr or proc.stdout}"
    return proc.stdout


def assert_all_answer(plan: LabPlan) -> None:
    rows = ops.status(plan)
    assert [(r.name, r.running, r.ssh) for r in rows] == [
        (m.name, True, True) for m in plan.machines
    ]


def busybox_image(busybox: Path, tag: str) -> bytes:
    """A one-layer docker-archive holding a static busybox, made without Docker."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("bin")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        t.addfile(info)
        t.add(busybox, "bin/busybox")
        for name in ("sh", "echo", "cat"):
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            t.addfile(info)
    blob = layer.getvalue()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(blob).hexdigest()]},
    }).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}])
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in (("layer.tar", blob), (config_name, config),
                           ("manifest.json", manifest.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def debs(tmp: Path) -> list[Path] | None:
    """containerd, runc and busybox-static from the host's apt sources (None if unreachable)."""
    if shutil.which("apt-get") is None:
        return None
    proc = subprocess.run(["apt-get", "download", "containerd", "runc", "busybox-static"],
                          cwd=tmp, capture_output=True, text=True, timeout=300, check=False)
    found = sorted(tmp.glob("*.deb"))
    return found if proc.returncode == 0 and len(found) == 3 else None


def containers_inside(plan: LabPlan, packages: list[Path], tmp_path: Path) -> None:
    """containerd + runc from Debian inside t1, running a busybox image made here."""
    busybox_deb, containerd_deb, runc_deb = packages
    subprocess.run(["dpkg-deb", "-x", str(busybox_deb), str(tmp_path / "bb")], check=True)
    image = tmp_path / "busybox.tar"
    image.write_bytes(busybox_image(tmp_path / "bb/bin/busybox", "docker.io/kubeforge/bb:lab"))
    t1 = plan.machine("t1")
    options = ssh.ssh_argv(plan, t1)[1:-1]
    subprocess.run(["scp", "-q", *options, str(containerd_deb), str(runc_deb), str(image),
                    f"root@{t1.address}:/root/"], check=True, timeout=120)  # fmt: skip
    sh(plan, "t1", "dpkg -i /root/runc_*.deb /root/containerd_*.deb >/dev/null", timeout=300)
    sh(plan, "t1", "systemctl is-active --quiet containerd || sleep 3")
    sh(plan, "t1", "ctr -n k8s.io images import /root/busybox.tar")
    out = sh(plan, "t1", "ctr -n k8s.io run --rm docker.io/kubeforge/bb:lab smoke "
             "/bin/busybox sh -c 'echo hello from runc'")  # fmt: skip
    assert out.strip() == "hello from runc"
    # The overlayfs snapshotter works (containerd's folder is not on the machine's overlay).
    assert "overlayfs" in sh(plan, "t1", "ctr plugins ls | grep snapshotter | grep -w ok")


def test_lab_lifecycle(plan: LabPlan, tmp_path: Path) -> None:
    lines: list[str] = []
    ops.up(plan, out=lines.append)
    assert any("machine t1" in ln and "booting" in ln for ln in lines)
    assert_all_answer(plan)

    # Idempotent: a second up leaves the running machines alone.
    lines.clear()
    ops.up(plan, out=lines.append)
    running = [ln for ln in lines if " machine " in ln and "already running" in ln]
    assert len(running) == len(plan.machines), lines

    for m in plan.machines:
        state = sh(plan, m.name, "systemctl is-system-running --wait || true").strip()
        failed = sh(plan, m.name, "systemctl --failed --no-legend --plain").strip()
        assert state == "running", f"{m.name}: {state}; failed units: {failed}"
        assert sh(plan, m.name, "hostname").strip() == m.name
    # Machines reach each other by name, over the lab bridge.
    sh(plan, "t1", "ping -c1 -W2 t2")

    packages = debs(tmp_path)
    if packages is not None:
        containers_inside(plan, packages, tmp_path)
    else:
        print("apt-get download containerd runc busybox-static failed: no container test")

    # Fault drill: stop keeps the disk, and the address goes silent.
    sh(plan, "t2", "echo kept > /root/marker")
    ops.stop_machine(plan, "t2", out=lines.append)
    assert not machine.is_running(plan.machine("t2"))
    assert not ssh.port_open("10.241.0.21", timeout=1)
    ops.start_machine(plan, "t2", out=lines.append)
    assert sh(plan, "t2", "cat /root/marker").strip() == "kept"
    assert_all_answer(plan)

    assert ops.down(plan, out=lines.append) == []
    assert ops.leftovers(plan) == []
    assert ops.down(plan, out=lines.append) == []  # twice is fine

    ops.up(plan, out=lines.append)
    assert_all_answer(plan)
    assert sh(plan, "t2", "cat /root/marker 2>/dev/null || echo fresh").strip() == "fresh"
    assert ops.down(plan, out=lines.append) == []
    assert ops.leftovers(plan) == []

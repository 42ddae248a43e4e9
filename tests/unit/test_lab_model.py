"""The lab plan: names, addresses and paths derived from a spec, without touching the host."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from kubeforge.errors import KubeforgeError
from kubeforge.lab.model import LabPlan, load_plan


@dataclass(frozen=True)
class Host:
    name: str
    address: IPv4Address
    roles: list[str]


@dataclass(frozen=True)
class Network:
    node_cidr: IPv4Network


@dataclass(frozen=True)
class SSH:
    user: str = "root"
    key: Path | None = None
    known_hosts: Path | None = None


@dataclass(frozen=True)
class VM:
    cpus: int = 2
    memory_mib: int = 3072


@dataclass(frozen=True)
class Lab:
    bridge: str
    gateway: IPv4Address
    kind: str = "container"
    vm: VM = field(default_factory=VM)


@dataclass(frozen=True)
class Spec:
    name: str
    hosts: list[Host]
    network: Network
    ssh: SSH = field(default_factory=SSH)
    lab: Lab | None = None


def spec(**kw: object) -> Spec:
    base = Spec(
        name="t",
        hosts=[
            Host("a1", IPv4Address("10.9.0.11"), ["control_plane"]),
            Host("b1", IPv4Address("10.9.0.21"), ["worker"]),
        ],
        network=Network(IPv4Network("10.9.0.0/24")),
        lab=Lab("kf-t0", IPv4Address("10.9.0.1")),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEFORGE_CACHE", str(tmp_path))
    return tmp_path


def test_plan_from_spec(cache: Path) -> None:
    plan = LabPlan.from_spec(spec())
    assert [m.name for m in plan.machines] == ["a1", "b1"]
    assert str(plan.gateway_interface) == "10.9.0.1/24"
    a1 = plan.machine("a1")
    assert a1.netns == "kf-t-a1"
    assert str(a1.interface) == "10.9.0.11/24"
    assert a1.dir == cache / "lab" / "t" / "machines" / "a1"
    assert a1.cgroup_name == "kubeforge-t/a1"
    # Without ssh paths in the spec, the lab keeps them in its own folder.
    assert plan.ssh_key == cache / "lab" / "t" / "ssh" / "id_ed25519"


def test_interface_names_fit_the_kernel_limit_and_are_stable() -> None:
    plan = LabPlan.from_spec(spec())
    veths = [m.veth for m in plan.machines]
    assert all(len(v) <= 15 for v in veths)
    assert len(set(veths)) == 2
    assert veths == [m.veth for m in LabPlan.from_spec(spec()).machines]
    # Same host name in another lab: another interface.
    other = LabPlan.from_spec(spec(name="u"))
    assert other.machine("a1").veth != plan.machine("a1").veth


def test_mac_is_locally_administered_unicast() -> None:
    mac = LabPlan.from_spec(spec()).machine("a1").mac
    first = int(mac.split(":")[0], 16)
    assert len(mac.split(":")) == 6
    assert first & 0b10 and not first & 0b1


def test_hosts_file_lists_every_machine() -> None:
    text = LabPlan.from_spec(spec()).hosts_file()
    assert "10.9.0.11\ta1\n" in text and "10.9.0.21\tb1\n" in text
    assert text.startswith("127.0.0.1\tlocalhost")


def test_unknown_machine_names_the_known_ones() -> None:
    with pytest.raises(KubeforgeError, match=r"no machine 'zz' \(machines: a1, b1\)"):
        LabPlan.from_spec(spec()).machine("zz")


def test_spec_without_lab_section_is_an_error() -> None:
    with pytest.raises(KubeforgeError, match="no `lab:` section"):
        LabPlan.from_spec(spec(lab=None))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lab": Lab("kf-t0", IPv4Address("10.8.0.1"))}, "lab.gateway 10.8.0.1"),
        ({"lab": Lab("a-much-too-long-bridge", IPv4Address("10.9.0.1"))}, "lab.bridge"),
        ({"lab": Lab("kf-t0", IPv4Address("10.9.0.11"))}, "also lab.gateway"),
        ({"hosts": [Host("x", IPv4Address("10.10.0.5"), ["worker"])]}, "outside 10.9.0.0/24"),
        ({"name": "Bad_Name"}, "name 'Bad_Name'"),
    ],
)
def test_bad_lab_specs(change: dict[str, object], message: str) -> None:
    with pytest.raises(KubeforgeError, match=message):
        LabPlan.from_spec(spec(**change))


def test_the_repository_lab_spec_plans(cache: Path) -> None:
    plan = load_plan("lab")
    assert [m.name for m in plan.machines] == ["cp1", "cp2", "cp3", "w1", "w2"]
    assert plan.bridge == "kf-lab0" and str(plan.gateway) == "10.240.0.1"
    assert plan.machine("w2").address == IPv4Address("10.240.0.22")
    assert plan.ssh_key.name == "id_ed25519" and plan.known_hosts.name == "known_hosts"


def test_the_lab_test_spec_does_not_collide_with_the_lab() -> None:
    root = Path(__file__).resolve().parents[1] / "lab" / "cluster.yml"
    test, lab = load_plan(root), load_plan("lab")
    assert test.name != lab.name and test.bridge != lab.bridge
    assert not test.network.overlaps(lab.network)


def test_vm_machines_keep_their_files_in_the_seed_folder() -> None:
    plan = LabPlan.from_spec(spec(lab=Lab("kf-t0", IPv4Address("10.9.0.1"), "vm", VM(1, 2048))))
    m = plan.machine("a1")
    assert plan.kind == "vm" and m.is_vm and (m.cpus, m.memory_mib) == (1, 2048)
    assert m.identity_root == m.dir / "seed" / "identity"
    assert m.pidfile.name == "qemu.pid"
    container = LabPlan.from_spec(spec()).machine("a1")
    assert not container.is_vm and container.identity_root == container.upper

"""The lab as a plan: names, addresses and paths derived from a cluster spec, with no side effects.

Everything the other lab modules do is keyed by these derived names, so `down` can find what `up`
made from the spec alone (no state file to lose).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Protocol

from kubeforge import paths
from kubeforge.errors import KubeforgeError

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IFNAME = re.compile(r"^[a-zA-Z0-9_-]{1,15}$")
#: Linux network namespace names become files under /run/netns; keep them readable and short.
NETNS_PREFIX = "kf-"
#: Written with a machine's first-boot files: present means "keep what the machine changed".
IDENTITY_MARKER = "etc/kubeforge-machine"


# The few spec fields the lab reads, as structural types: `kubeforge.spec.ClusterSpec` satisfies
# them, and so do the small stand-ins the unit tests build.
class HostLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def address(self) -> IPv4Address: ...
    @property
    def roles(self) -> Sequence[str]: ...


class NetworkLike(Protocol):
    @property
    def node_cidr(self) -> IPv4Network: ...


class SSHLike(Protocol):
    @property
    def user(self) -> str: ...
    @property
    def key(self) -> Path | None: ...
    @property
    def known_hosts(self) -> Path | None: ...


class VMLike(Protocol):
    @property
    def cpus(self) -> int: ...
    @property
    def memory_mib(self) -> int: ...


class LabLike(Protocol):
    @property
    def bridge(self) -> str: ...
    @property
    def gateway(self) -> IPv4Address: ...
    @property
    def kind(self) -> str: ...
    @property
    def vm(self) -> VMLike: ...


class SpecLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def hosts(self) -> Sequence[HostLike]: ...
    @property
    def network(self) -> NetworkLike: ...
    @property
    def ssh(self) -> SSHLike: ...
    @property
    def lab(self) -> LabLike | None: ...


def lab_root() -> Path:
    """Everything the lab keeps on this host: the shared rootfs and one folder per lab."""
    return paths.cache_dir() / "lab"


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


@dataclass(frozen=True)
class MachinePlan:
    lab: str
    name: str
    address: IPv4Address
    roles: tuple[str, ...]
    network: IPv4Network
    gateway: IPv4Address
    #: "container" (systemd-nspawn) or "vm" (QEMU); cpus and memory only matter to a VM
    kind: str = "container"
    cpus: int = 2
    memory_mib: int = 3072

    @property
    def is_vm(self) -> bool:
        return self.kind == "vm"

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.lab}-{self.name}"

    @property
    def veth(self) -> str:
        """The machine's link on the bridge: a veth's host end, or a VM's tap."""
        # Interface names are limited to 15 bytes, so the host end is named by a hash of
        # lab/host; its alias (set on creation) says which machine it belongs to.
        return "kfv" + _short_hash(f"{self.lab}/{self.name}")

    @property
    def mac(self) -> str:
        # Stable across down/up so ARP caches and DHCP-less tools see the same machine.
        h = _short_hash(f"mac/{self.lab}/{self.name}", 10)
        return "02:" + ":".join(h[i : i + 2] for i in range(0, 10, 2))

    @property
    def interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.address}/{self.network.prefixlen}")

    @property
    def alias(self) -> str:
        return f"kubeforge lab {self.lab}/{self.name}"

    @property
    def dir(self) -> Path:
        return lab_root() / self.lab / "machines" / self.name

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def work(self) -> Path:
        return self.dir / "work"

    @property
    def merged(self) -> Path:
        return self.dir / "rootfs"

    @property
    def containerd_dir(self) -> Path:
        """/var/lib/containerd lives outside the overlay: overlayfs cannot use an overlay as its
        upper layer, and containerd's snapshotter is overlayfs."""
        return self.dir / "containerd"

    @property
    def identity_root(self) -> Path:
        """Where the machine's first-boot files are written on this host: a container's overlay
        upper layer, or the folder a VM's seed disk is made from."""
        return self.dir / "seed" / "identity" if self.is_vm else self.upper

    @property
    def pidfile(self) -> Path:
        return self.dir / ("qemu.pid" if self.is_vm else "supervisor.pid")

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def cgroup_name(self) -> str:
        """Path of the machine's cgroup below each hierarchy's root."""
        return f"kubeforge-{self.lab}/{self.name}"


@dataclass(frozen=True)
class LabPlan:
    name: str
    bridge: str
    gateway: IPv4Address
    network: IPv4Network
    ssh_user: str
    ssh_key: Path
    known_hosts: Path
    machines: tuple[MachinePlan, ...]
    kind: str = "container"

    @property
    def dir(self) -> Path:
        return lab_root() / self.name

    @property
    def gateway_interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.gateway}/{self.network.prefixlen}")

    @property
    def bridge_alias(self) -> str:
        return f"kubeforge lab {self.name}"

    @property
    def lock_file(self) -> Path:
        return self.dir / ".lock"

    def machine(self, name: str) -> MachinePlan:
        for m in self.machines:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.machines)
        raise KubeforgeError(f"lab {self.name!r} has no machine {name!r} (machines: {known})")

    @property
    def dns_zone(self) -> str:
        """The zone the lab's DNS answers (kubeforge.lab.dns): test hosts live under it."""
        return f"{self.name}.kubeforge.test"

    @property
    def ingress_addresses(self) -> tuple[IPv4Address, ...]:
        """Where names in the DNS zone point: the workers (every node if there are none)."""
        workers = [m.address for m in self.machines if "worker" in m.roles]
        return tuple(workers or [m.address for m in self.machines])

    def hosts_file(self) -> str:
        """/etc/hosts for every machine: all lab machines resolve without DNS."""
        lines = ["127.0.0.1\tlocalhost", "::1\t\tlocalhost ip6-localhost ip6-loopback", ""]
        lines += [f"{m.address}\t{m.name}" for m in self.machines]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_spec(cls, spec: SpecLike) -> LabPlan:
        if spec.lab is None:
            raise KubeforgeError(
                f"spec {spec.name!r} has no `lab:` section — add `lab: {{bridge: kf-lab0, "
                "gateway: <first address of network.node_cidr>}` to run it as a lab"
            )
        problems: list[str] = []
        name, net = spec.name, spec.network.node_cidr
        gateway, bridge = spec.lab.gateway, spec.lab.bridge
        if not _LABEL.match(name) or len(NETNS_PREFIX + name) > 40:
            problems.append(f"name {name!r}: must be a short DNS label (a-z, 0-9, '-')")
        if not _IFNAME.match(bridge):
            problems.append(f"lab.bridge {bridge!r}: must be 1-15 of a-z, A-Z, 0-9, '_', '-'")
        if gateway not in net or gateway in (net.network_address, net.broadcast_address):
            problems.append(f"lab.gateway {gateway}: must be a host address in {net}")
        seen: dict[IPv4Address, str] = {gateway: "lab.gateway"}
        machines = []
        for h in spec.hosts:
            if not _LABEL.match(h.name):
                problems.append(f"host {h.name!r}: name must be a DNS label")
            if h.address not in net:
                problems.append(f"host {h.name}: address {h.address} is outside {net}")
            if h.address in seen:
                problems.append(f"host {h.name}: address {h.address} is also {seen[h.address]}")
            seen[h.address] = f"host {h.name}"
            machines.append(
                MachinePlan(name, h.name, h.address, tuple(h.roles), net, gateway,
                            spec.lab.kind, spec.lab.vm.cpus, spec.lab.vm.memory_mib)
            )
        if problems:
            raise KubeforgeError(
                f"spec {name!r} cannot run as a lab:\n" + "\n".join(f"  - {p}" for p in problems)
            )
        lab_dir = lab_root() / name
        return cls(
            name=name,
            bridge=bridge,
            gateway=gateway,
            network=net,
            ssh_user=spec.ssh.user,
            ssh_key=spec.ssh.key or lab_dir / "ssh" / "id_ed25519",
            known_hosts=spec.ssh.known_hosts or lab_dir / "ssh" / "known_hosts",
            machines=tuple(machines),
            kind=spec.lab.kind,
        )


def load_plan(env_or_path: str | Path) -> LabPlan:
    """Plan from an environment name (`lab`) or a cluster.yml path.

    Files the lab itself creates (the SSH key, known_hosts) need not exist yet.
    """
    from kubeforge.spec import load_spec

    return LabPlan.from_spec(load_spec(env_or_path, check_files=False))

"""Lab lifecycle: up, down, status, stop and start of one machine."""

from __future__ import annotations

import fcntl
import importlib
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kubeforge.errors import KubeforgeError
from kubeforge.lab import cgroups, dns, machine, network, rootfs, ssh, vm, vmimage
from kubeforge.lab.model import NETNS_PREFIX, LabPlan, MachinePlan, SpecLike
from kubeforge.lab.system import RUNTIME_TOOLS, Progress, cmdline, mounts_under, require_host

Out = Callable[[str], object]

BOOT_TIMEOUT = 120.0
#: An emulated VM boots its kernel and systemd in about a minute alone, longer side by side.
VM_BOOT_TIMEOUT = 900.0


def as_plan(spec: SpecLike | LabPlan) -> LabPlan:
    return spec if isinstance(spec, LabPlan) else LabPlan.from_spec(spec)


@contextmanager
def _locked(plan: LabPlan) -> Iterator[None]:
    """One lab command at a time per lab (two `up`s would race on the same namespaces)."""
    plan.dir.mkdir(parents=True, exist_ok=True)
    with plan.lock_file.open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise KubeforgeError(
                f"another `kubeforge lab` command is running on lab {plan.name!r}"
            ) from e
        yield


#: Free space the lab needs on the disk under its folder: the machines keep their images, etcd
#: data and logs there, and their kubelets evict pods below 2 GiB free (the lab's evictionHard).
MIN_FREE_GIB = 10


def check_free_space(path: Path, min_gib: float = MIN_FREE_GIB) -> None:
    """Refuse to boot machines on a nearly full disk, with the figures, before kubelets evict."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    usage = shutil.disk_usage(existing)
    free_gib = usage.free / 2**30
    if free_gib < min_gib:
        used = usage.used / usage.total
        raise KubeforgeError(
            f"only {free_gib:.1f} GiB free on the disk of {existing} ({used:.0%} used); the lab "
            f"machines need {min_gib} GiB there for images, etcd and logs, and "
            "their kubelets evict pods below 2 GiB. Free some space (old mirror or Go build "
            "caches, `kubeforge lab down` of other labs) and run it again")


def _preflight(plan: LabPlan) -> None:
    check_free_space(plan.dir)
    if plan.kind == "vm":
        require_host([t for t in RUNTIME_TOOLS if t not in ("systemd-nspawn", "nsenter")])
        vm.require_tools()
        return
    require_host()
    if not cgroups.hierarchies():
        raise KubeforgeError("no cgroup hierarchy is mounted under /sys/fs/cgroup")


# The two kinds of machine share one set of operations: start(plan, m, base) -> bool,
# stop(m) -> str, destroy(m) -> list[str], is_running(m) -> bool.
def _kind(m: MachinePlan) -> Any:
    return vm if m.is_vm else machine


def _pid(m: MachinePlan) -> int | None:
    return vm.qemu_pid(m) if m.is_vm else machine.supervisor_pid(m)


def _boot_timeout(plan: LabPlan, given: float | None) -> float:
    return given if given is not None else VM_BOOT_TIMEOUT if plan.kind == "vm" else BOOT_TIMEOUT


def _base(plan: LabPlan, progress: Progress | None = None) -> Path:
    """What the machines boot from: the container rootfs or the VM image, built if missing."""
    if plan.kind == "vm":
        if progress is None:
            if not vmimage.is_ready():
                raise KubeforgeError(f"the VM image is missing: run `kubeforge lab up {plan.name}`")
            return vmimage.image().dir
        with progress.step("vm image") as info:
            img, built = vmimage.ensure_image()
            info.append(f"built {img.dir}" if built else f"cached {img.dir}")
        return img.dir
    if progress is None:
        lower = rootfs.rootfs_dir()
        if not rootfs.is_ready(lower):
            raise KubeforgeError(f"the lab rootfs is missing: run `kubeforge lab up {plan.name}`")
        return lower
    with progress.step("rootfs") as info:
        lower, built = rootfs.ensure_rootfs()
        info.append(f"built {lower}" if built else f"cached {lower}")
        if rootfs.cached_recipe(lower) != rootfs.recipe_id():
            info.append("older recipe: `rm -rf` it after `lab down` to rebuild")
    return lower


@dataclass(frozen=True)
class MachineStatus:
    name: str
    address: str
    roles: tuple[str, ...]
    running: bool
    ssh: bool
    pid: int | None


def wait_for_ssh(plan: LabPlan, machines: list[MachinePlan], timeout: float) -> list[str]:
    """Wait until every machine's sshd answers and serves the pinned host key.

    Returns one problem line per machine that did not get there."""
    deadline = time.monotonic() + timeout

    def one(m: MachinePlan) -> str | None:
        while time.monotonic() < deadline:
            if not _kind(m).is_running(m):
                return f"{m.name}: machine exited during boot; see {m.console_log}"
            if ssh.port_open(str(m.address)):
                served, pinned = ssh.scanned_key(m), ssh.host_public_key(m)
                if served == pinned:
                    return None
                return f"{m.name}: sshd serves {served}, expected the pinned key {pinned}"
            time.sleep(0.5)
        return f"{m.name}: sshd did not answer on {m.address}:22 within {timeout:.0f}s"

    with ThreadPoolExecutor(max_workers=max(1, len(machines))) as pool:
        return [p for p in pool.map(one, machines) if p]


def _mirror_module() -> Any | None:
    """The artifact mirror, if that part of kubeforge is there (it is built separately)."""
    for name in ("kubeforge.mirror.serve", "kubeforge.mirror.server", "kubeforge.mirror"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if all(callable(getattr(mod, f, None)) for f in ("start", "stop", "is_running")):
            return mod
    return None


def _mirror_address(mod: Any) -> str | None:
    where = getattr(mod, "listen_address", None)
    return str(where()) if callable(where) and where() else None


#: One mirror per host serves every lab: it listens on all addresses, so each lab's machines
#: reach it on their own gateway and two labs (the main one and Molecule's) can run side by side.
MIRROR_LISTEN = "0.0.0.0"


def _start_mirror(plan: LabPlan, progress: Progress) -> None:
    mod = _mirror_module()
    if mod is None:
        progress.note("mirror: kubeforge.mirror has no start/stop/is_running yet — skipped")
        return
    try:
        # start() leaves running servers alone but still pushes: a build made while the mirror
        # served (a second Kubernetes release) reaches the registry only that way
        serving = mod.is_running() and _mirror_address(mod) == MIRROR_LISTEN
        with progress.step(f"mirror: {'serving' if serving else 'serve'} on {plan.gateway}") \
                as info:
            mod.start(MIRROR_LISTEN)
            info.append("running" if mod.is_running() else "start() returned but it is not running")
    except (KubeforgeError, OSError) as e:  # OSError: a server that cannot be spawned at all
        # the lab's specs take every package, binary and image from this mirror: a lab without
        # it fails later, in the middle of a deploy, with an image that is "not found"
        raise KubeforgeError(f"lab {plan.name}: the machines are up but the mirror is not "
                             f"serving them: {e}\n  fix: see the log above, then run "
                             f"`kubeforge lab up` again (it leaves running machines alone)") from e


def up(spec: SpecLike | LabPlan, out: Out = print, boot_timeout: float | None = None) -> None:
    """Create and boot every machine of the lab; machines already running are left alone."""
    plan = as_plan(spec)
    _preflight(plan)
    progress = Progress(out)
    with _locked(plan):
        base = _base(plan, progress)
        with progress.step("ssh key") as info:
            made = ssh.ensure_client_key(plan)
            info.append(f"{'created' if made else 'kept'} {plan.ssh_key}")
        with progress.step(f"bridge {plan.bridge}") as info:
            info.append("created" if network.ensure_bridge(plan) else "exists")
            info.append(f"{plan.gateway_interface}")
            network.ensure_fence(plan)
        started = []
        for m in plan.machines:
            with progress.step(f"machine {m.name} {m.address}") as info:
                if _kind(m).start(plan, m, base):
                    started.append(m)
                    info.append("booting")
                else:
                    info.append("already running")
        ssh.write_known_hosts(plan)
        if started:
            with progress.step(f"sshd on {len(started)} machine(s)"):
                problems = wait_for_ssh(plan, started, _boot_timeout(plan, boot_timeout))
            if problems:
                raise KubeforgeError("lab machines did not come up:\n" + "\n".join(problems))
        progress.note(f"known_hosts {plan.known_hosts}")
        with progress.step(f"dns: *.{plan.dns_zone} on {plan.gateway}:53") as info:
            started_dns = dns.start(plan.dir, plan.gateway, plan.dns_zone, plan.ingress_addresses)
            info.append(("started, " if started_dns else "running, ")
                        + " ".join(str(a) for a in plan.ingress_addresses))
        _start_mirror(plan, progress)
        progress.note(f"lab {plan.name} is up: `kubeforge lab ssh {plan.machines[0].name}`")


def down(spec: SpecLike | LabPlan, out: Out = print) -> list[str]:
    """Remove everything `up` made except the cached base rootfs and the SSH client key.

    Safe to run twice. Returns what could not be removed (empty when clean)."""
    plan = as_plan(spec)
    _preflight(plan)
    progress = Progress(out)
    problems: list[str] = []
    with _locked(plan):
        if dns.stop(plan.dir):
            progress.note("dns: stopped")
        mod = _mirror_module()
        if mod is not None:
            try:
                # The mirror serves every lab: stop it with the last one.
                others = [n for n in network.netns_list() if n.startswith(NETNS_PREFIX)
                          and n not in network.lab_netns(plan)]
                if mod.is_running() and not others:
                    mod.stop()
                    progress.note("mirror: stopped")
            except Exception as e:
                progress.note(f"mirror: not stopped ({e})")
        names = {m.name for m in plan.machines}
        # Machines that were in the spec once but not now still have folders: remove them too.
        machines_dir = plan.dir / "machines"
        extra = sorted(p.name for p in machines_dir.iterdir() if p.name not in names) \
            if machines_dir.is_dir() else []  # fmt: skip
        orphans = [
            MachinePlan(plan.name, n, plan.gateway, (), plan.network, plan.gateway, plan.kind)
            for n in extra
        ]

        def remove(m: MachinePlan) -> list[str]:
            problems: list[str] = _kind(m).destroy(m)
            return problems

        with ThreadPoolExecutor(max_workers=max(1, len(plan.machines) + len(orphans))) as pool:
            for m, left in zip(
                [*plan.machines, *orphans], pool.map(remove, [*plan.machines, *orphans]),
                strict=True,
            ):
                problems += left
                progress.note(f"machine {m.name}: removed" + (f" ({left})" if left else ""))
        for ns in network.lab_netns(plan):
            network.remove_netns(ns)
        for veth in network.lab_veths(plan):
            network.remove_link(veth)
        network.remove_fence(plan)
        with progress.step(f"bridge {plan.bridge}") as info:
            info.append("removed" if network.remove_bridge(plan) else "absent")
        for d in cgroups.lab_dirs(plan.name):
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                problems.append(f"cgroup {d} still exists")
        plan.known_hosts.unlink(missing_ok=True)
        if machines_dir.is_dir() and not mounts_under(machines_dir):
            shutil.rmtree(machines_dir)
        progress.note(f"lab {plan.name} is down" + (" with problems" if problems else ""))
    return problems


def leftovers(spec: SpecLike | LabPlan) -> list[str]:
    """What a lab left on the host after `down`: empty when it is gone without a trace."""
    plan = as_plan(spec)
    found = [f"netns {n}" for n in network.lab_netns(plan)]
    found += [f"veth {v}" for v in network.lab_veths(plan)]
    if network.link(plan.bridge) is not None:
        found.append(f"bridge {plan.bridge}")
    found += [f"mount {m}" for m in mounts_under(plan.dir)]
    found += [f"cgroup {d}" for d in cgroups.lab_dirs(plan.name) if d.exists()]
    for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
        if str(plan.dir) in " ".join(cmdline(pid)):
            found.append(f"process {pid}: {' '.join(cmdline(pid))[:80]}")
    if (plan.dir / "machines").exists():
        found.append(f"folder {plan.dir / 'machines'}")
    return found


def status(spec: SpecLike | LabPlan) -> list[MachineStatus]:
    plan = as_plan(spec)
    machines = list(plan.machines)

    def one(m: MachinePlan) -> MachineStatus:
        pid = _pid(m)
        up = pid is not None and ssh.port_open(str(m.address), timeout=1.0)
        return MachineStatus(m.name, str(m.address), m.roles, pid is not None, up, pid)

    with ThreadPoolExecutor(max_workers=max(1, len(machines))) as pool:
        return list(pool.map(one, machines))


def format_status(plan: LabPlan, rows: list[MachineStatus]) -> str:
    head = ("MACHINE", "ADDRESS", "ROLES", "STATE", "SSH")
    table = [head] + [
        (r.name, r.address, ",".join(r.roles), "running" if r.running else "stopped",
         "answers" if r.ssh else "-")
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in table]  # fmt: skip
    bridge = "up" if network.link(plan.bridge) else "absent"
    lines.append(f"lab {plan.name}: bridge {plan.bridge} {bridge}, gateway {plan.gateway}")
    return "\n".join(lines)


def stop_machine(spec: SpecLike | LabPlan, host: str, out: Out = print) -> str:
    """Power one machine off, keeping its disk; its address stops answering."""
    plan = as_plan(spec)
    m = plan.machine(host)
    _preflight(plan)
    progress = Progress(out)
    with _locked(plan), progress.step(f"machine {m.name}") as info:
        how: str = _kind(m).stop(m)
        info.append(how)
    return how


def start_machine(
    spec: SpecLike | LabPlan, host: str, out: Out = print, boot_timeout: float | None = None
) -> bool:
    """Boot one machine again (after `stop_machine`); False if it was running already."""
    plan = as_plan(spec)
    m = plan.machine(host)
    _preflight(plan)
    base = _base(plan)
    progress = Progress(out)
    with _locked(plan):
        if network.link(plan.bridge) is None:
            raise KubeforgeError(f"bridge {plan.bridge} is missing: run `kubeforge lab up`")
        with progress.step(f"machine {m.name} {m.address}") as info:
            started: bool = _kind(m).start(plan, m, base)
            info.append("booting" if started else "already running")
        ssh.write_known_hosts(plan)
        if started:
            with progress.step(f"sshd on {m.name}"):
                problems = wait_for_ssh(plan, [m], _boot_timeout(plan, boot_timeout))
            if problems:
                raise KubeforgeError("\n".join(problems))
    return started


def remove_machine(spec: SpecLike | LabPlan, host: str, out: Out = print) -> list[str]:
    """Delete one machine (disk, network namespace, cgroups, known_hosts entry) and leave the
    others running: undoes `up` of a spec copy with extra hosts. Returns what could not be
    removed (empty when clean)."""
    plan = as_plan(spec)
    m = plan.machine(host)
    _preflight(plan)
    progress = Progress(out)
    with _locked(plan), progress.step(f"machine {m.name} {m.address}") as info:
        problems: list[str] = _kind(m).destroy(m)
        network.remove_machine_net(m)
        ssh.write_known_hosts(replace(plan, machines=tuple(x for x in plan.machines if x != m)))
        info.append("removed" + (f" ({'; '.join(problems)})" if problems else ""))
    return problems

"""Host networking for the lab: one bridge per lab, and per machine a network namespace joined to
the bridge by a veth pair whose inner end is the machine's eth0.

The host's address on the bridge is the lab gateway. Nothing is NATed or routed off the bridge:
lab traffic only ever reaches lab addresses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from kubeforge.lab.model import NETNS_PREFIX, LabPlan, MachinePlan
from kubeforge.lab.system import run

NETNS_DIR = Path("/run/netns")


def _links() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(run(["ip", "-j", "-d", "link", "show"]).stdout)
    return data


def link(name: str) -> dict[str, Any] | None:
    for li in _links():
        if li.get("ifname") == name:
            return li
    return None


def netns_list() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob("*")) if NETNS_DIR.is_dir() else []


def lab_netns(plan: LabPlan) -> list[str]:
    """Namespaces of this lab, including ones of machines no longer in the spec."""
    prefix = f"{NETNS_PREFIX}{plan.name}-"
    return [n for n in netns_list() if n.startswith(prefix)]


def lab_veths(plan: LabPlan) -> list[str]:
    """Host ends of this lab's veth pairs (found by the alias set on creation)."""
    prefix = f"kubeforge lab {plan.name}/"
    return [li["ifname"] for li in _links() if str(li.get("ifalias", "")).startswith(prefix)]


def ensure_bridge(plan: LabPlan) -> bool:
    """Create the lab bridge with the gateway address; True if it was created now."""
    created = False
    if link(plan.bridge) is None:
        run(["ip", "link", "add", plan.bridge, "type", "bridge"])
        run(["ip", "link", "set", plan.bridge, "alias", plan.bridge_alias])
        created = True
    addrs = json.loads(run(["ip", "-j", "-4", "addr", "show", "dev", plan.bridge]).stdout)
    have = {
        f"{a['local']}/{a['prefixlen']}" for entry in addrs for a in entry.get("addr_info", [])
    }
    if str(plan.gateway_interface) not in have:
        run(["ip", "addr", "add", str(plan.gateway_interface), "dev", plan.bridge])
    run(["ip", "link", "set", plan.bridge, "up"])
    return created


def remove_bridge(plan: LabPlan) -> bool:
    li = link(plan.bridge)
    if li is None:
        return False
    if li.get("ifalias") != plan.bridge_alias:
        # Not ours (a bridge that existed before the lab): leave it, just drop our address.
        run(["ip", "addr", "del", str(plan.gateway_interface), "dev", plan.bridge], check=False)
        return False
    run(["ip", "link", "del", plan.bridge])
    return True


def _netns_has_eth0(m: MachinePlan) -> bool:
    return run(["ip", "-n", m.netns, "link", "show", "eth0"], check=False).returncode == 0


def ensure_machine_net(plan: LabPlan, m: MachinePlan) -> None:
    """Namespace + veth + address + default route; repairs a half-made setup."""
    if m.netns not in netns_list():
        run(["ip", "netns", "add", m.netns])
    if not (_netns_has_eth0(m) and link(m.veth) is not None):
        run(["ip", "link", "del", m.veth], check=False)
        run(["ip", "-n", m.netns, "link", "del", "eth0"], check=False)
        run(["ip", "link", "add", m.veth, "type", "veth",
             "peer", "name", "eth0", "address", m.mac, "netns", m.netns])  # fmt: skip
        run(["ip", "link", "set", m.veth, "alias", m.alias])
    run(["ip", "link", "set", m.veth, "master", plan.bridge, "up"])
    ns = ["ip", "-n", m.netns]
    run([*ns, "link", "set", "lo", "up"])
    run([*ns, "link", "set", "eth0", "up"])
    run([*ns, "addr", "replace", str(m.interface), "dev", "eth0"])
    run([*ns, "route", "replace", "default", "via", str(m.gateway), "dev", "eth0"])


def ensure_tap(plan: LabPlan, m: MachinePlan) -> None:
    """A VM's link on the bridge: a tap QEMU attaches to, named and aliased like a veth."""
    if link(m.veth) is None:
        run(["ip", "tuntap", "add", "dev", m.veth, "mode", "tap"])
        run(["ip", "link", "set", m.veth, "alias", m.alias])
    run(["ip", "link", "set", m.veth, "master", plan.bridge, "up"])


def remove_link(name: str) -> None:
    if link(name) is not None:
        run(["ip", "link", "del", name], check=False)


def remove_machine_net(m: MachinePlan) -> None:
    remove_netns(m.netns)
    remove_link(m.veth)


def remove_netns(name: str) -> None:
    if name in netns_list():
        # Deleting the namespace destroys eth0 and with it the host end of the veth.
        run(["ip", "netns", "del", name], check=False)
        stale = NETNS_DIR / name
        if stale.exists():  # the bind mount is gone but the file stayed (e.g. after a crash)
            run(["umount", str(stale)], check=False)
            stale.unlink(missing_ok=True)


def host_forwarding() -> bool:
    try:
        return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    except OSError:
        return False


def _fence_rules(plan: LabPlan) -> list[list[str]]:
    tag = ["-m", "comment", "--comment", f"kubeforge-lab-{plan.name}"]
    return [
        ["FORWARD", "-i", plan.bridge, "!", "-o", plan.bridge, "-j", "DROP", *tag],
        ["FORWARD", "!", "-i", plan.bridge, "-o", plan.bridge, "-j", "DROP", *tag],
    ]


def ensure_fence(plan: LabPlan) -> bool:
    """If the host forwards IPv4, drop anything routed between the lab bridge and elsewhere so
    lab traffic cannot leave the lab. Returns True if the fence is in place."""
    if shutil.which("iptables") is None:
        return False
    for rule in _fence_rules(plan):
        if run(["iptables", "-w", "-C", *rule], check=False).returncode != 0:
            run(["iptables", "-w", "-I", *rule])
    return True


def remove_fence(plan: LabPlan) -> None:
    if shutil.which("iptables") is None:
        return
    for rule in _fence_rules(plan):
        while run(["iptables", "-w", "-C", *rule], check=False).returncode == 0:
            run(["iptables", "-w", "-D", *rule])

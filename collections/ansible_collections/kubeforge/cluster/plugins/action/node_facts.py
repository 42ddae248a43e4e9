"""Action kubeforge.cluster.node_facts: the host facts the roles read, without Python on the node.

The roles read three facts: hostname, os_family and default_ipv4 (address, interface, gateway,
macaddress). The setup module gathers them with a Python run on every node that cost seconds per
node on a busy control host; this action reads them with one shell command over the connection
and returns them as facts, so `ansible_facts['default_ipv4']` means the same thing as after setup.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail  # type: ignore[import-untyped]
from ansible.plugins.action import ActionBase  # type: ignore[import-untyped]

# the route the kernel would take to a public address: the same probe setup makes
SCRIPT = (
    "printf 'hostname %s\\n' \"$(hostname)\"; "
    "if [ -r /etc/os-release ]; then . /etc/os-release; fi; "
    "printf 'os %s %s\\n' \"${ID:-unknown}\" \"${ID_LIKE:-}\"; "
    "printf 'route %s\\n' \"$(ip -4 route get 8.8.8.8 2>/dev/null | head -n 1)\"; "
    "for a in /sys/class/net/*/address; do "
    "printf 'mac %s %s\\n' \"$(basename \"$(dirname \"$a\")\")\" \"$(cat \"$a\")\"; done"
)

# os-release ID / ID_LIKE -> the os_family setup reports
FAMILIES = {"debian": "Debian", "ubuntu": "Debian", "rhel": "RedHat", "fedora": "RedHat",
            "centos": "RedHat", "rocky": "RedHat", "almalinux": "RedHat", "suse": "Suse",
            "opensuse": "Suse", "sles": "Suse", "arch": "Archlinux", "alpine": "Alpine"}


def parse(stdout: str) -> dict[str, Any]:
    """The facts from the script's output."""
    hostname, os_ids, route = "", [], []
    macs: dict[str, str] = {}
    for line in stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "hostname":
            hostname = rest.strip().split(".")[0]
        elif tag == "os":
            os_ids = rest.split()
        elif tag == "route":
            route = rest.split()
        elif tag == "mac":
            name, _, mac = rest.partition(" ")
            macs[name] = mac.strip()
    family = next((FAMILIES[i] for i in os_ids if i in FAMILIES),
                  os_ids[0].capitalize() if os_ids else "")
    default_ipv4: dict[str, str] = {}
    fields = {"via": "gateway", "dev": "interface", "src": "address"}
    for i, token in enumerate(route[:-1]):
        if token in fields:
            default_ipv4[fields[token]] = route[i + 1]
    if "interface" in default_ipv4:
        default_ipv4.setdefault("gateway", "")
        default_ipv4["macaddress"] = macs.get(default_ipv4["interface"], "")
        default_ipv4["alias"] = default_ipv4["interface"]
    return {"hostname": hostname, "os_family": family,
            "default_ipv4": default_ipv4 if "address" in default_ipv4 else {}}


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        out = self._low_level_execute_command(SCRIPT, sudoable=True)
        if out.get("rc") != 0:
            raise AnsibleActionFail(f"reading the node facts failed (rc {out.get('rc')}): "
                                    f"{out.get('stderr', '').strip()}")
        facts = parse(out.get("stdout", ""))
        if not facts["hostname"]:
            raise AnsibleActionFail("reading the node facts failed: no hostname in the output")
        result.update(changed=False, ansible_facts=facts)
        return result

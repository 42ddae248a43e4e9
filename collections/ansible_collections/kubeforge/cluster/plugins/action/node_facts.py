"""Action kubeforge.cluster.node_facts: the host facts the roles read, without Python on the node.

The roles read three facts: hostname, os_family and default_ipv4 (address, interface, gateway,
macaddress). The setup module gathers them with a Python run on every node that cost seconds per
node on a busy control host; this action reads them with one shell command over the connection
and returns them as facts, so `ansible_facts['default_ipv4']` means the same thing as after setup.

`script` (optional) is a bash script run in the same round trip, after the facts are read: a role
that reads the node anyway (preflight) gets the facts with its read instead of a task run and a
connection of their own per node. Its output is returned as stdout/stdout_lines, and a script that
exits non-zero fails the task.
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

# the line between the facts and the script's output
MARKER = "--- kubeforge.cluster.node_facts: script ---"

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


def split(stdout: str) -> tuple[str, list[str]]:
    """The facts script's output and the lines the caller's script printed."""
    facts, _, rest = stdout.partition(MARKER + "\n")
    return facts, rest.splitlines()


def command(script: str | None) -> str:
    """The facts script, then the caller's in a subshell (its options and exit stay its own)."""
    if not script:
        return SCRIPT
    return f"{SCRIPT}; printf '%s\\n' {MARKER!r}\n(\n{script}\n)"


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = self._task.args
        unknown = set(args) - {"script"}
        if unknown:
            raise AnsibleActionFail(f"node_facts takes only 'script', not {sorted(unknown)}")
        script = args.get("script")
        out = self._low_level_execute_command(command(script), sudoable=True,
                                              executable="/bin/bash" if script else None)
        stdout, stderr = out.get("stdout", ""), out.get("stderr", "")
        raw, lines = split(stdout)
        facts = parse(raw)
        if not facts["hostname"]:
            raise AnsibleActionFail(f"reading the node facts failed (rc {out.get('rc')}): "
                                    f"{stderr.strip() or 'no hostname in the output'}")
        result.update(changed=False, ansible_facts=facts)
        if script:
            result.update(rc=out.get("rc"), stdout="\n".join(lines), stdout_lines=lines,
                          stderr=stderr, stderr_lines=stderr.splitlines())
        if out.get("rc") != 0:
            what = "the script" if script else "reading the node facts"
            result.update(failed=True, msg=f"{what} failed (rc {out.get('rc')}): {stderr.strip()}")
        return result

"""Dynamic providers: the lab machines and the Ansible bootstrap as Pulumi resources.

Both run the `kubeforge` command of this virtualenv, so a stack does exactly what the command line
does. Their output goes to a log file under .cache/pulumi/logs (the engine shows a provider's
output only when it ends); a failure raises with the log's tail and its path.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from kubeforge import paths
from kubeforge.stack import cache_dir

LOG_TAIL = 30


def log_dir() -> Path:
    return cache_dir() / "logs"


def run_kubeforge(args: Sequence[str], what: str) -> Path:
    """Run `kubeforge ARGS`, its output in a log file; raise with the tail when it fails."""
    log = log_dir() / f"{time.strftime('%Y%m%dT%H%M%S')}-{what.replace(' ', '-')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(Path(sys.executable).parent / "kubeforge"), *args]
    with log.open("w") as out:
        rc = subprocess.run(cmd, cwd=paths.ROOT, stdout=out, stderr=subprocess.STDOUT,
                            check=False).returncode
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL:])
        raise RuntimeError(f"{what} failed: `kubeforge {' '.join(args)}` exited {rc}; "
                           f"full log: {log}\n{tail}")
    return log


def changed_keys(olds: dict[str, Any], news: dict[str, Any], keys: Sequence[str]) -> list[str]:
    return [k for k in keys if olds.get(k) != news.get(k)]


class LabMachinesProvider(ResourceProvider):
    """The lab's systemd-nspawn machines: created by `lab up`, deleted by `lab down`.

    Inputs: env (where the spec is; not a trigger), name, machines (the host list) and lab (the
    lab section). A change of machines or lab replaces the whole lab: the machines are cattle,
    and the Bootstrap resource that depends on them bootstraps the new ones.
    """

    TRIGGERS = ("name", "machines", "lab")

    def create(self, props: dict[str, Any]) -> CreateResult:
        run_kubeforge(["lab", "up", props["env"]], f"lab up {props['name']}")
        return CreateResult(id_=props["name"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = changed_keys(olds, news, self.TRIGGERS)
        return DiffResult(changes=bool(changes), replaces=changes, delete_before_replace=True)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        run_kubeforge(["lab", "down", props["env"]], f"lab down {props['name']}")


class BootstrapProvider(ResourceProvider):
    """The Ansible bootstrap (playbooks/cluster.yml without the add-on play).

    Triggers: spec (digest of the spec minus its add-on sections), roles (digest of roles,
    playbooks, collections, plugins) and machines (the id of the machines it runs on). An update
    re-runs the idempotent playbook. Delete resets the nodes, unless the machines themselves go
    away with the stack (`reset_on_delete` false).
    """

    TRIGGERS = ("spec", "roles", "machines")

    def _deploy(self, props: dict[str, Any]) -> dict[str, Any]:
        run_kubeforge(["deploy", props["env"], "--yes", "--skip-tags", "addons"],
                      f"bootstrap {props['name']}")
        kubeconfig = Path(props["kubeconfig_path"]).read_text()
        return {**props, "kubeconfig": kubeconfig}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["name"], outs=self._deploy(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = changed_keys(olds, news, self.TRIGGERS)
        return DiffResult(changes=bool(changes), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._deploy(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("reset_on_delete"):
            run_kubeforge(["reset", props["env"]], f"reset {props['name']}")


class LabMachines(Resource):
    """The lab machines of one spec (LabMachinesProvider)."""

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(LabMachinesProvider(), name, props, opts)


class AnsibleBootstrap(Resource):
    """One cluster's bootstrap (BootstrapProvider); `kubeconfig` is a secret output."""

    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"])
        super().__init__(BootstrapProvider(), name, {**props, "kubeconfig": None},
                         pulumi.ResourceOptions.merge(opts, secret))

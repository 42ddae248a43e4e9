"""The roles' argument specs against what the project's playbooks give them.

Ansible checks a role's arguments when the role runs (types, required ones) but says nothing of a
variable no role declares: a misspelt `containerd_sandbox_imag` in group_vars is silently ignored
and the role's default wins. These tests read the playbooks and group_vars and hold every
role-prefixed variable they set to the role's meta/argument_specs.yml, and every required
argument to a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
GROUP_VARS = ROOT / "playbooks" / "group_vars" / "all" / "roles.yml"
ROLE_TASKS = ("ansible.builtin.import_role", "ansible.builtin.include_role")


@cache
def _specs(role: str) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    specs: dict[str, dict[str, Any]] = data["argument_specs"]
    return specs


def _declared(role: str) -> set[str]:
    return {name for entry in _specs(role).values() for name in (entry.get("options") or {})}


def _defaults(role: str) -> set[str]:
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    return set(yaml.safe_load(path.read_text()) or {}) if path.exists() else set()


def _owner(name: str) -> str | None:
    """The role whose prefix the variable carries (the longest: kubeadm_control_plane_ before a
    shorter role name that happens to prefix it)."""
    owners = [r for r in ROLES if name.startswith(r + "_")]
    return max(owners, key=len) if owners else None


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every play, task and block of a playbook or task file."""
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
    elif isinstance(node, dict):
        yield node
        for key in ("pre_tasks", "tasks", "post_tasks", "block", "rescue", "always"):
            yield from _nodes(node.get(key))


def _role_uses(tree: Any) -> Iterator[tuple[str, str, set[str]]]:
    """(role, entry point, variables set on it) for every role a playbook runs: its
    import_role/include_role tasks with their `vars` (play `roles:` are refused below)."""
    for node in _nodes(tree):
        for key in ROLE_TASKS:
            if key in node:
                args = node[key]
                yield args["name"], args.get("tasks_from", "main"), set(node.get("vars") or {})


@cache
def _playbook_uses() -> list[tuple[str, str, str, set[str]]]:
    uses = []
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        for role, entry, params in _role_uses(yaml.safe_load(path.read_text())):
            uses.append((path.name, role, entry, params))
    return uses


@cache
def _group_vars() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(GROUP_VARS.read_text())
    return data


def test_group_vars_set_only_declared_role_arguments() -> None:
    group_vars = _group_vars()
    unknown = [name for name in group_vars
               if (role := _owner(name)) and name not in _declared(role)]
    assert not unknown, f"{GROUP_VARS.name} sets arguments no argument spec declares: {unknown}"


@pytest.mark.parametrize("use", _playbook_uses(), ids=lambda u: f"{u[0]}:{u[1]}:{u[2]}")
def test_playbooks_give_roles_declared_arguments(use: tuple[str, str, str, set[str]]) -> None:
    playbook, role, _, params = use
    if role not in ROLES:
        pytest.skip(f"{role} has no argument spec")
    unknown = {p for p in params if _owner(p) == role} - _declared(role)
    assert not unknown, f"{playbook} gives {role} arguments it does not declare: {sorted(unknown)}"


def _checked_at_run_time(tree: Any) -> Iterator[str]:
    """The role uses Ansible would check at run time: play `roles:` entries and imports or
    includes without `rolespec_validate: false`."""
    for node in _nodes(tree):
        for entry in node.get("roles") or []:
            yield entry if isinstance(entry, str) else entry["role"]
        for key in ROLE_TASKS:
            if key in node and node[key].get("rolespec_validate", True) is not False:
                yield node[key]["name"]


@pytest.mark.parametrize("path", sorted((ROOT / "playbooks").glob("*.yml"))
                         + sorted((ROOT / "roles").glob("*/tasks/*.yml")), ids=lambda p: p.name)
def test_roles_run_without_their_run_time_check(path: Path) -> None:
    """These tests check the arguments before any run; Ansible's own check costs a task run per
    role, entry point and node (27 of the 207 of a 3 + 2 no-op deploy). Molecule still runs it."""
    checked = sorted(set(_checked_at_run_time(yaml.safe_load(path.read_text()))))
    assert not checked, (f"{path.relative_to(ROOT)} runs {checked} with Ansible's argument check:"
                         " use import_role/include_role with rolespec_validate: false")


@pytest.mark.parametrize("role", ROLES)
def test_required_arguments_have_a_value(role: str) -> None:
    """A required argument comes from group_vars, the role's defaults or the playbooks."""
    given = set(_group_vars()) | _defaults(role)
    given |= {p for _, r, _, params in _playbook_uses() if r == role for p in params}
    missing = {name for entry in _specs(role).values()
               for name, option in (entry.get("options") or {}).items()
               if option.get("required")} - given
    # node_remove and etcd_restore are given theirs on the command line (kubeforge remove/restore)
    assert not missing or role in {"node_remove", "etcd_restore", "kubeadm_join"}, \
        f"{role}: required arguments without a value: {sorted(missing)}"

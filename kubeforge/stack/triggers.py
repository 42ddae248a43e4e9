"""What makes the stack's resources change: digests of the declared cluster and of the roles.

The Ansible bootstrap re-runs only when the part of the spec it consumes, or the roles and
playbooks, change. Add-ons are Pulumi resources of their own, so their sections stay out of the
bootstrap digest: a chart bump is one Helm release update, not a re-run of every role.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kubeforge import paths
from kubeforge.addons import files_digest
from kubeforge.spec.models import ClusterSpec

# Sections the Addons component owns (kubeforge.addons expands them).
ADDON_SECTIONS = frozenset({"ingress", "cert_manager", "releases"})
# Sections that describe the lab machines, not the cluster (the Machines component's inputs).
MACHINE_SECTIONS = frozenset({"lab"})
# What the Ansible bootstrap runs: a change in any of these files re-runs it.
BOOTSTRAP_TREES = ("roles", "playbooks", "collections", "plugins", "ansible.cfg")


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def spec_digest(spec: ClusterSpec, exclude: frozenset[str] = ADDON_SECTIONS) -> str:
    """sha256 of the spec as the bootstrap sees it (resolved paths, defaults applied)."""
    return _digest(spec.model_dump(mode="json", exclude=set(exclude)))


def tree_digest(root: Path = paths.ROOT, trees: tuple[str, ...] = BOOTSTRAP_TREES) -> str:
    """sha256 over the names and contents of the files under `trees` (caches excluded)."""
    files: list[Path] = []
    for tree in trees:
        base = root / tree
        files += [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return files_digest(root, files)


def machines(spec: ClusterSpec) -> list[dict[str, str]]:
    """The declared hosts as the stack reports them (name, address, roles)."""
    return [{"name": h.name, "address": str(h.address), "roles": ",".join(h.roles)}
            for h in spec.hosts]

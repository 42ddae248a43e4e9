"""What kubeforge needs to know about a pod network (CNI): one subclass per folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

# (field path under cni.<name>, message, fix)
Finding = tuple[tuple[str, ...], str, str]


class CniPlugin:
    """A pod network: its spec options, checks, readiness and what a reset removes. The
    manifest template and the node-side install live in the plugin's folder."""

    name: ClassVar[str]
    options: ClassVar[type[BaseModel]]
    # why this release cannot install it (empty: it can)
    refused: ClassVar[str] = ""
    # the node agent's DaemonSet, as namespace/name: the pod network is ready once it rolled out
    agent: ClassVar[str]
    # what `kubeforge reset` removes besides kubeadm's own state
    reset_paths: ClassVar[tuple[str, ...]] = ()
    reset_interfaces: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def folder(cls) -> Path:
        return Path(__file__).parent / cls.name

    @classmethod
    def findings(cls, opts: Any) -> Iterator[Finding]:
        """Problems among the options that their types cannot express."""
        return iter(())

    @classmethod
    def manifest_options(cls, opts: Any) -> dict[str, Any]:
        """The options as the manifest template reads them (`cni_options`), defaults filled in."""
        return (opts or cls.options()).model_dump(mode="json")

    @classmethod
    def mode(cls, opts: Any) -> str:
        """A word for `kubeforge plan` (the encapsulation or routing mode)."""
        return ""

"""What kubeforge needs to know about a pod network (CNI): one subclass per folder."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from kubeforge.mirror.recipes import Bundle

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
    # its iptables chains start with one of these (reset flushes the tables that hold them)
    reset_chains: ClassVar[tuple[str, ...]] = ()
    # what it ships, versioned apart from Kubernetes releases: component -> version. The
    # mirror builds each (its folder's mirror.py says how); artifacts and images name them.
    components: ClassVar[dict[str, str]] = {}
    # node downloads: artifact -> (mirror base, path with {v} = the component's version), the
    # layout of versions.ARTIFACT_PATHS; the artifact's name is its component's
    artifacts: ClassVar[dict[str, tuple[str, str]]] = {}
    # images: name -> upstream reference, {component} replaced by its version
    images: ClassVar[dict[str, str]] = {}

    @classmethod
    def folder(cls) -> Path:
        return Path(__file__).parent / cls.name

    @classmethod
    def mirror(cls) -> Bundle:
        """How the mirror builds its components and images (the folder's mirror.py)."""
        if not cls.components:
            from kubeforge.mirror.recipes import Bundle
            return Bundle()
        # imported on use: the mirror's build machinery imports this registry
        bundle: Bundle = importlib.import_module(f"{cls.__module__}.mirror").BUNDLE
        return bundle

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
        """A word for `kubeforge plan --spec` (the encapsulation or routing mode)."""
        return ""

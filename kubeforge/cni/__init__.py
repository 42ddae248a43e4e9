"""The pod networks kubeforge knows: one folder each (its options, checks, manifest, node-side
install), registered here by one line."""

from __future__ import annotations

from kubeforge.cni import calico, flannel
from kubeforge.cni.base import CniPlugin

PLUGINS: dict[str, type[CniPlugin]] = {p.name: p for p in (flannel.PLUGIN, calico.PLUGIN)}

"""Calico: modelled, refused in this release (its images need a module the proxy refuses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from kubeforge.cni.base import CniPlugin, Finding
from kubeforge.fieldtypes import STRICT, Port


class Calico(BaseModel):
    """cni.calico: the spec's options for Calico."""

    model_config = STRICT

    mode: Literal["vxlan", "vxlan-cross-subnet", "bgp"] = "vxlan"
    vxlan_port: Port | None = Field(None, description="VXLAN UDP port (vxlan modes only)")
    bgp_asn: Annotated[int, Field(ge=1, le=4294967295)] | None = Field(
        None, description="AS number (bgp mode only)"
    )
    mtu: Annotated[int, Field(ge=576, le=9000)] | None = None


class CalicoPlugin(CniPlugin):
    name: ClassVar[str] = "calico"
    options: ClassVar[type[BaseModel]] = Calico
    refused: ClassVar[str] = (
        "Calico is not available in this kubeforge release: its images cannot be built from the "
        "Go module proxy (github.com/projectcalico/api is refused), so no Calico install could "
        "be tested")
    agent: ClassVar[str] = "kube-system/calico-node"
    reset_interfaces: ClassVar[tuple[str, ...]] = ("vxlan.calico", "tunl0")

    @classmethod
    def findings(cls, opts: Any) -> Iterator[Finding]:
        if not opts:
            return
        if opts.mode == "bgp" and opts.vxlan_port is not None:
            yield (("vxlan_port",), "vxlan_port is set but calico mode is bgp",
                   "remove vxlan_port or use mode vxlan")
        if opts.mode != "bgp" and opts.bgp_asn is not None:
            yield (("bgp_asn",), f"bgp_asn is set but calico mode is {opts.mode} (no BGP)",
                   "remove bgp_asn or use mode bgp")

    @classmethod
    def mode(cls, opts: Any) -> str:
        return str(opts.mode) if opts else "vxlan"


PLUGIN = CalicoPlugin

"""Flannel: VXLAN or host-gw overlay; no NetworkPolicy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from kubeforge.cni.base import CniPlugin, Finding
from kubeforge.spec.base import STRICT, Port


class Flannel(BaseModel):
    """cni.flannel: the spec's options for Flannel."""

    model_config = STRICT

    backend: Literal["vxlan", "host-gw"] = "vxlan"
    vni: Annotated[int, Field(ge=1, le=16777215)] | None = None
    port: Port | None = Field(None, description="VXLAN UDP port (vxlan backend only)")


class FlannelPlugin(CniPlugin):
    name: ClassVar[str] = "flannel"
    options: ClassVar[type[BaseModel]] = Flannel
    agent: ClassVar[str] = "kube-flannel/kube-flannel-ds"
    reset_paths: ClassVar[tuple[str, ...]] = ("/run/flannel",)
    reset_interfaces: ClassVar[tuple[str, ...]] = ("cni0", "flannel.1")

    @classmethod
    def findings(cls, opts: Any) -> Iterator[Finding]:
        if opts and opts.backend == "host-gw":
            for field in ("vni", "port"):
                if getattr(opts, field) is not None:
                    yield ((field,), f"{field} is a VXLAN setting but the flannel backend is "
                           "host-gw", f"remove cni.flannel.{field} or use backend: vxlan")

    @classmethod
    def manifest_options(cls, opts: Any) -> dict[str, Any]:
        # flannel's own defaults: VNI 1 on UDP 8472
        out = super().manifest_options(opts)
        return {**out, "vni": out["vni"] or 1, "port": out["port"] or 8472}

    @classmethod
    def mode(cls, opts: Any) -> str:
        return str(opts.backend) if opts else "vxlan"


PLUGIN = FlannelPlugin

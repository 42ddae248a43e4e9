"""Flannel: VXLAN or host-gw overlay; no NetworkPolicy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from kubeforge.cni.base import CniPlugin, Finding
from kubeforge.fieldtypes import STRICT, Port


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
    reset_chains: ClassVar[tuple[str, ...]] = ("FLANNEL",)
    components: ClassVar[dict[str, str]] = {
        "flannel": "0.28.10", "flannel_cni_plugin": "1.8.0-flannel1"}
    artifacts: ClassVar[dict[str, tuple[str, str]]] = {
        "flannel_cni_plugin": (
            "github",
            "flannel-io/cni-plugin/releases/download/v{v}/cni-plugin-flannel-linux-amd64-v{v}.tgz"),
    }
    images: ClassVar[dict[str, str]] = {
        "flannel": "ghcr.io/flannel-io/flannel:v{flannel}",
        # upstream's kube-flannel.yml copies the CNI binary out of this image; kubeforge installs
        # it from the artifact instead, so the image is in the mirror for upstream's manifest
        "flannel-cni-plugin": "ghcr.io/flannel-io/flannel-cni-plugin:v{flannel_cni_plugin}",
    }

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

"""How the mirror builds Flannel: flanneld and its image, the flannel CNI plugin and its
tarball (upstream's layout)."""

from __future__ import annotations

from kubeforge.mirror import oci
from kubeforge.mirror.gotool import Binary, GoBuild
from kubeforge.mirror.recipes import Bundle, Context, ImageRecipe, simple

# github.com/flannel-io/cni-plugin is not served by the module proxy here (403 for every tag).
# Its flannel plugin started life as plugins/meta/flannel in containernetworking/plugins, whose
# last release with it (v0.9.1) is served, so the mirror builds that code instead (see BUILDINFO).
CNI_FALLBACK = ("github.com/containernetworking/plugins", "v0.9.1")


def _cni_plugin(ctx: Context) -> GoBuild:
    module, v = CNI_FALLBACK
    return GoBuild(
        requires=((module, v),), primary=module,
        binaries=(Binary(f"{module}/plugins/meta/flannel", "flannel"),),
        ldflags=("-s", "-w",
                 f"-X {module}/pkg/utils/buildversion.BuildVersion=v{ctx.version}+{v}"),
    )


BUNDLE = Bundle(
    go={
        # The Tencent Cloud VPC backend's SDK versions are not on this proxy (403); the mirror's
        # flanneld is built without that one backend (vxlan, host-gw, wireguard... all stay).
        "flannel": simple(
            "github.com/flannel-io/flannel", {"github.com/flannel-io/flannel": "flanneld"},
            ("-X github.com/flannel-io/flannel/pkg/version.Version={v}", "-linkmode external",
             "-extldflags -static"),
            tags=("netgo", "osusergo"), cgo=True,  # the udp backend is C, like upstream's build
            drop_imports=(("main.go", "github.com/flannel-io/flannel/pkg/backend/tencentvpc"),)),
        "flannel_cni_plugin": _cni_plugin,
    },
    binaries={"flannel": ("flanneld",), "flannel_cni_plugin": ("flannel",)},
    tarballs={"flannel_cni_plugin": ("flannel_cni_plugin", {"flannel-amd64": "flannel"})},
    images={
        # flanneld execs iptables and ip: the Debian base layer
        "flannel": ImageRecipe("flannel", {"opt/bin/flanneld": "flanneld"},
                               oci.ImageConfig(entrypoint=("/opt/bin/flanneld",)), "debian"),
        "flannel-cni-plugin": ImageRecipe("flannel_cni_plugin", {"flannel": "flannel"},
                                          oci.ImageConfig(cmd=("/bin/sh",)), "debian"),
    },
    sources={"flannel_cni_plugin": "{}@{} plugins/meta/flannel (flannel-io/cni-plugin is not on "
                                   "the proxy)".format(*CNI_FALLBACK)},
)

"""The offline artifact mirror: binaries, images and OS packages built from package registries.

`kubeforge mirror build` builds every component of a release from Go modules (cached by version),
lays the results out like dl.k8s.io / GitHub releases / get.helm.sh, writes OCI images without
Docker and a flat Debian repository; `serve` publishes them on ADDR:8080 (files) and ADDR:5000
(an OCI registry). The lab calls `start`, `stop` and `is_running` directly.
"""

from kubeforge.mirror.layout import FILES_PORT, REGISTRY_PORT, MirrorLayout, spec_mirrors
from kubeforge.mirror.serve import is_running, start, stop

__all__ = [
    "FILES_PORT",
    "REGISTRY_PORT",
    "MirrorLayout",
    "is_running",
    "spec_mirrors",
    "start",
    "stop",
]

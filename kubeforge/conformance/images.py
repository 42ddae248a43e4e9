"""The suite's images: which ones it names, which the mirror holds, and where nodes pull them.

Nodes pull registry.k8s.io through the mirror (the spec's `mirrors.images`), so on a kubeforge
cluster the suite's own image names work as they are. A cluster whose nodes pull from another
registry (the mirror's images pushed to a company registry) gets a KUBE_TEST_REPO_LIST that maps
each of the suite's registries there, keeping the path below the host as the mirror does.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import e2eimages, oci

#: The suite's registries (KUBE_TEST_REPO_LIST keys) and their defaults: the RegistryList of
#: k8s.io/kubernetes test/utils/image/manifest.go.
REGISTRIES: dict[str, str] = {
    "promoterE2eRegistry": "registry.k8s.io/e2e-test-images",
    "buildImageRegistry": "registry.k8s.io/build-image",
    "invalidRegistry": "invalid.registry.k8s.io/invalid",
    "gcEtcdRegistry": "registry.k8s.io",
    "gcRegistry": "registry.k8s.io",
    "sigStorageRegistry": "registry.k8s.io/sig-storage",
    "privateRegistry": "gcr.io/k8s-authenticated-test",
    "dockerLibraryRegistry": "docker.io/library",
    "cloudProviderGcpRegistry": "registry.k8s.io/cloud-provider-gcp",
}
# Left as they are: one must stay unreachable (a spec checks that its pull fails), the other
# needs credentials the suite brings itself.
KEEP: frozenset[str] = frozenset({"invalidRegistry", "privateRegistry"})


def repo_list(target: str) -> dict[str, str]:
    """KUBE_TEST_REPO_LIST's content that sends the suite's pulls to `target` (HOST[:PORT][/PATH]),
    each registry's path below its host kept: registry.k8s.io/e2e-test-images ->
    TARGET/e2e-test-images, docker.io/library -> TARGET/library."""
    target = target.strip().rstrip("/")
    if not target or "://" in target or " " in target:
        raise KubeforgeError(f"--registry {target!r}: give HOST[:PORT][/PATH] without a scheme, "
                             "e.g. registry.example.com:5000/k8s")
    out: dict[str, str] = {}
    for key, default in REGISTRIES.items():
        if key in KEEP:
            out[key] = default
            continue
        _, _, path = default.partition("/")
        out[key] = f"{target}/{path}" if path else target
    return out


def write_repo_list(mapping: Mapping[str, str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}: {v}\n" for k, v in sorted(mapping.items())))
    return path


def suite_images(e2e_test: Path, env: Mapping[str, str]) -> list[str]:
    """The image references the suite uses, as it prints them (`e2e.test --list-images`)."""
    proc = subprocess.run([str(e2e_test), "--list-images"], capture_output=True, text=True,
                          env=dict(env), timeout=120, check=False)
    if proc.returncode != 0:
        raise KubeforgeError(f"`{e2e_test.name} --list-images` failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip()[-500:]}")
    return sorted({line.strip() for line in proc.stdout.splitlines()
                   if _REF.fullmatch(line.strip())})


_REF = re.compile(r"[a-z0-9.-]+(:[0-9]+)?/[^\s]+")


@dataclass(frozen=True)
class ImageRow:
    ref: str
    in_mirror: bool
    source: str | None  # what kubeforge builds it from; None: no recipe

    def line(self) -> str:
        state = "in mirror" if self.in_mirror else "missing  "
        what = self.source or "no recipe: specs that pull it fail"
        return f"{state}  {self.ref}  [{what}]"


def rows(refs: list[str], layout_images: Path, release: versions.Release) -> list[ImageRow]:
    index = oci.ImageLayout(layout_images).index() if layout_images.exists() else {}
    return [ImageRow(ref, ref in index, e2eimages.source_of(ref, release)) for ref in refs]

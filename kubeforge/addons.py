"""The one list of add-ons a cluster declares, as both adapters (Ansible, Pulumi) consume it.

The spec's first-class `ingress` and `cert_manager` sections expand into Helm releases with the
values kubeforge needs, followed by the user's own `releases`. Values files are merged here, on
the control host, so every adapter gets one finished values tree per release and nothing is
declared twice. Order matters: a release may use what the ones before it installed (CRDs,
webhooks), so each one is installed and ready before the next starts.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kubeforge import paths, safeyaml, versions
from kubeforge.errors import KubeforgeError
from kubeforge.spec.models import ClusterSpec, Issuer, Release

# Names the expansion uses; a user release with the same namespace/name is an error (rules.py).
TRAEFIK = ("traefik", "traefik")
CERT_MANAGER = ("cert-manager", "cert-manager")
ISSUERS = ("cert-manager", "kubeforge-issuers")
RESERVED: tuple[tuple[str, str], ...] = (TRAEFIK, CERT_MANAGER, ISSUERS)

# Charts shipped inside the kubeforge package (kubeforge/data/charts/<name>).
BUILTIN_CHARTS = "data/charts"
# Traefik's own chart is not a Go module, so an offline mirror cannot build it: kubeforge ships
# its own, and every cluster (mirror or not) gets the same one.
TRAEFIK_CHART = "kubeforge-traefik"

DEFAULT_ISSUER = Issuer(name="kubeforge-ca", type="selfsigned_ca")


@dataclass(frozen=True)
class PlannedRelease:
    """One Helm release, fully resolved: where the chart comes from and its final values."""

    name: str
    namespace: str
    chart: str
    version: str | None
    repo: str | None = None
    oci: str | None = None
    path: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    plain_http: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "chart": self.chart,
                "version": self.version, "repo": self.repo, "oci": self.oci, "path": self.path,
                "values": self.values, "plain_http": self.plain_http,
                "checksum": chart_digest(Path(self.path)) if self.path else None}


def files_digest(root: Path, files: Iterable[Path]) -> str:
    """sha256 over each file's path (relative to root) and contents, in the order given."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode() + b"\0")
        digest.update(f.read_bytes() + b"\0")
    return digest.hexdigest()


def chart_digest(folder: Path) -> str:
    """sha256 over a local chart's file names and contents: the node keeps the digest of the copy
    it holds, so a re-run learns in one read that nothing changed (no per-file comparison)."""
    return files_digest(folder, sorted(p for p in folder.rglob("*") if p.is_file()))


def builtin_chart(name: str) -> Path:
    return Path(str(resources.files("kubeforge").joinpath(f"{BUILTIN_CHARTS}/{name}")))


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in `override` wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def newest_release(secrets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest revision of a Helm release from its storage Secrets (`owner=helm,name=NAME`):
    whoever installed it (the Ansible role's helm, a Pulumi Release), this is what Helm keeps."""
    if not secrets:
        return None
    newest = max(secrets, key=lambda s: int(s["metadata"]["labels"]["version"]))
    # the API's base64 around Helm's own base64 of gzipped JSON
    raw = base64.b64decode(base64.b64decode(newest["data"]["release"]))
    release: dict[str, Any] = json.loads(gzip.decompress(raw))
    return release


def _semver(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split("-")[0].split("."))


def traefik_values(spec: ClusterSpec) -> dict[str, Any]:
    """kubeforge's Traefik chart (data/charts/kubeforge-traefik) keeps the rest in its defaults:
    a DaemonSet on every node on host ports 80/443, the default IngressClass."""
    version = (spec.ingress.version or versions.TRAEFIK).lstrip("v")
    return {"image": {"tag": f"v{version}"}, "gateway": {"enabled": spec.ingress.gateway_api}}


def cert_manager_values(version: str) -> dict[str, Any]:
    crds = ({"installCRDs": True} if _semver(version) < (1, 15)
            else {"crds": {"enabled": True, "keep": True}})
    # the release waits for the webhook itself; startupapicheck would need the cmctl image
    return {**crds, "startupapicheck": {"enabled": False}}


def _read_ca_bundle(issuer: Issuer) -> str | None:
    assert issuer.acme is not None
    path = issuer.acme.ca_bundle_file
    if path is None:
        return None
    try:
        return base64.b64encode(Path(path).read_bytes()).decode()
    except OSError as exc:
        hint = f"; {paths.MIRROR_BUILD_HINT}" if paths.in_mirror(Path(path)) else ""
        raise KubeforgeError(f"cert_manager issuer {issuer.name}: cannot read ca_bundle_file "
                             f"{path}: {exc.strerror}{hint}") from None


def issuer_values(spec: ClusterSpec) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for iss in spec.cert_manager.issuers or [DEFAULT_ISSUER]:
        item: dict[str, Any] = {"name": iss.name, "type": iss.type}
        if iss.acme is not None:
            item["acme"] = {"server": iss.acme.server, "email": iss.acme.email,
                            "ingressClass": iss.acme.ingress_class,
                            "caBundle": _read_ca_bundle(iss)}
        out.append(item)
    return {"issuers": out}


def _repo(spec: ClusterSpec, upstream: str | None) -> str | None:
    return spec.mirrors.charts.rstrip("/") if spec.mirrors.charts and upstream else upstream


def values_file(path: Path) -> dict[str, Any]:
    """A values file's content; KubeforgeError (naming the file) when Helm could not use it."""
    data = safeyaml.read(path)[0] or {}
    if not isinstance(data, dict):
        raise KubeforgeError(f"{path} must hold a mapping at the top level")
    return data


def _values_files(r: Release) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in r.values_files:
        try:
            data = values_file(Path(path))
        except KubeforgeError as exc:
            raise KubeforgeError(f"release {r.namespace}/{r.name}: values file {exc}") from None
        merged = merge(merged, data)
    return merged


def user_release(spec: ClusterSpec, r: Release) -> PlannedRelease:
    return PlannedRelease(
        name=r.name, namespace=r.namespace, chart=r.chart, version=r.version,
        repo=_repo(spec, r.source.repo), oci=r.source.oci,
        path=str(r.source.path) if r.source.path else None,
        values=merge(_values_files(r), r.values), plain_http=r.source.plain_http)


def expand(spec: ClusterSpec) -> list[PlannedRelease]:
    """Every Helm release of the cluster, in install order."""
    out: list[PlannedRelease] = []
    if spec.ingress.controller == "traefik":
        ns, name = TRAEFIK
        out.append(PlannedRelease(
            name=name, namespace=ns, chart=TRAEFIK_CHART, version=None,
            path=str(builtin_chart(TRAEFIK_CHART)),
            values=merge(traefik_values(spec), spec.ingress.values)))
    cm = spec.cert_manager
    if cm.enabled:
        version = cm.version or versions.CERT_MANAGER
        ns, name = CERT_MANAGER
        out.append(PlannedRelease(
            name=name, namespace=ns, chart="cert-manager", version=f"v{version.lstrip('v')}",
            repo=_repo(spec, versions.UPSTREAM_CHART_REPOS["cert-manager"]),
            values=cert_manager_values(version)))
        ns, name = ISSUERS
        out.append(PlannedRelease(
            name=name, namespace=ns, chart=name, version=None,
            path=str(builtin_chart(name)), values=issuer_values(spec)))
    out.extend(user_release(spec, r) for r in spec.releases)
    return out


def manifests(spec: ClusterSpec) -> list[str]:
    """Artifacts (versions.ARTIFACT_PATHS) applied before the releases: CRDs that charts need."""
    if spec.ingress.controller != "traefik":
        return []
    return ["traefik_crds", *(["gateway_api"] if spec.ingress.gateway_api else [])]

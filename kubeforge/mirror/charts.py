"""The add-ons' Helm charts and CRD manifests, made from the Go module sources of their projects.

files/charts/ is a plain Helm chart repository (index.yaml + packages), the stand-in for every
upstream chart repository; the CRD manifests (Gateway API, Traefik) sit where GitHub publishes
them. Charts are packaged by the mirror's own helm binary, so nothing but the module proxy is
needed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import gotool
from kubeforge.mirror.files import write_sidecar
from kubeforge.mirror.fsutil import atomic_path, writable_copy
from kubeforge.mirror.layout import MirrorLayout, sidecar

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
TRAEFIK_MODULE = "github.com/traefik/traefik/v3"
TRAEFIK_CRDS = "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"


@dataclass(frozen=True)
class ChartRecipe:
    module: str
    module_version: str
    subdir: str  # the chart inside the module zip
    version: str  # chart version
    app_version: str


# Only charts of Go modules: Traefik's chart is not one, so kubeforge ships its own (addons.py).
CHARTS: dict[str, ChartRecipe] = {
    "cert-manager": ChartRecipe("github.com/cert-manager/cert-manager",
                                f"v{versions.CERT_MANAGER_MIRROR}", "deploy/charts/cert-manager",
                                f"v{versions.CERT_MANAGER_MIRROR}",
                                f"v{versions.CERT_MANAGER_MIRROR}"),
}


def _assemble_cert_manager(module_dir: Path, chart: Path, recipe: ChartRecipe) -> None:
    """cert-manager keeps a chart template; its release tooling adds what this does (v1.11)."""
    template = chart / "Chart.template.yaml"
    meta = yaml.safe_load(template.read_text())
    meta.update(version=recipe.version, appVersion=recipe.app_version)
    meta.get("annotations", {}).pop("artifacthub.io/prerelease", None)
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    template.unlink()
    readme = chart / "README.template.md"
    if readme.exists():
        readme.rename(chart / "README.md")
    crds = sorted((module_dir / "deploy" / "crds").glob("crd-*.yaml"))
    if not crds:
        raise KubeforgeError(f"{module_dir}/deploy/crds has no CRDs; update "
                             "kubeforge/mirror/charts.py")
    body = "\n---\n".join(p.read_text().strip() for p in crds)
    (chart / "templates" / "crds.yaml").write_text(
        "{{- if .Values.installCRDs }}\n" + body + "\n{{- end }}\n")


def _helm(layout: MirrorLayout, release: versions.Release) -> Path:
    helm = layout.build_dir("helm", release.helm) / "helm"
    if not helm.is_file():
        raise KubeforgeError("packaging charts needs helm: kubeforge mirror build --only helm")
    return helm


def _run(cmd: list[str], log: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        raise KubeforgeError(f"`{' '.join(cmd[:2])} ...` failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip()[-2000:]}")


def build_charts(layout: MirrorLayout, release: versions.Release) -> list[Path]:
    """Package every add-on chart missing from files/charts and re-index; return new files."""
    repo = layout.files / "charts"
    repo.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, recipe in CHARTS.items():
        dest = repo / f"{name}-{recipe.version}.tgz"
        if dest.is_file():
            continue
        work = layout.work_dir(f"chart-{name}", recipe.version)
        work.mkdir(parents=True, exist_ok=True)
        log = work / "build.log"
        log.write_text("")
        info = gotool.module_info(recipe.module, recipe.module_version, gotool.go_env(), log)
        chart = work / name
        writable_copy(Path(info["Dir"]) / recipe.subdir, chart)
        if name == "cert-manager":
            _assemble_cert_manager(Path(info["Dir"]), chart, recipe)
        with atomic_path(work / "out") as tmp:
            tmp.mkdir()
            _run([str(_helm(layout, release)), "package", str(chart), "--destination", str(tmp),
                  "--version", recipe.version, "--app-version", recipe.app_version], log)
            built = tmp / dest.name
            if not built.is_file():
                raise KubeforgeError(f"helm package did not write {built.name}; see {log}")
            shutil.copy2(built, dest)
        shutil.rmtree(work / "out")
        write_sidecar(dest)
        written.append(dest)
    if written or not (repo / "index.yaml").is_file():
        _run([str(_helm(layout, release)), "repo", "index", str(repo)], repo / ".index.log")
        written.append(repo / "index.yaml")
    return written


def _manifest(layout: MirrorLayout, release: versions.Release, artifact: str, module: str,
              pick: Callable[[Path], list[Path]]) -> Path | None:
    """A CRD manifest artifact made of files of a Go module, `---`-joined in `pick`'s order."""
    dest = layout.artifact_file(release, artifact)
    if dest.is_file() and sidecar(dest).is_file():
        return None
    version = versions.component_version(release, artifact)
    work = layout.work_dir(artifact, version)
    work.mkdir(parents=True, exist_ok=True)
    info = gotool.module_info(module, f"v{version}", gotool.go_env(), work / "build.log")
    files = pick(Path(info["Dir"]))
    if not files:
        raise KubeforgeError(f"{module}@v{version} has none of the files of {artifact}; update "
                             "kubeforge/mirror/charts.py")
    with atomic_path(dest) as tmp:
        if len(files) == 1:  # as the project publishes it, byte for byte
            shutil.copyfile(files[0], tmp)
        else:
            tmp.write_text("".join(f"---\n{p.read_text().strip()}\n" for p in files))
    write_sidecar(dest)
    return dest


def _gateway_api_crds(module_dir: Path) -> list[Path]:
    crds = sorted((module_dir / "config" / "crd" / "standard").glob("*.yaml"))
    return [p for p in crds if p.name != "kustomization.yaml"]


def _traefik_crds(module_dir: Path) -> list[Path]:
    path = module_dir / TRAEFIK_CRDS
    return [path] if path.is_file() else []


def build_manifests(layout: MirrorLayout, release: versions.Release) -> list[Path]:
    """The CRD manifests of the add-ons: the Gateway API standard channel's standard-install.yaml
    (as its releases publish it) and Traefik's CRDs (the file its documentation applies)."""
    made = [_manifest(layout, release, "gateway_api", GATEWAY_API_MODULE, _gateway_api_crds),
            _manifest(layout, release, "traefik_crds", TRAEFIK_MODULE, _traefik_crds)]
    return [p for p in made if p is not None]

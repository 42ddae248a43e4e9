"""Add-on lifecycle on the lab: a release added to the spec is installed, a chart version change
is an upgrade, a release removed from the spec is uninstalled, and a re-run changes nothing.

It deploys a copy of the lab spec with one extra release (only the add-ons: `kubeforge addons`) and
ends with that copy equal to the lab spec again. The extra chart comes from an OCI registry (the
lab mirror's), the one chart source the lab spec itself does not use."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import addons, paths
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl
from .remote import Run, absolute_paths, kubeforge

NS = "kubeforge-drill"


def _deploy(spec_file: Path, *extra: str) -> Run:
    run = kubeforge("addons", str(spec_file), *extra, timeout=900)
    print(run.stdout[-3000:])
    return run


def _helm_release(kubectl: Kubectl, name: str) -> dict[str, Any] | None:
    """The newest revision of a Helm release, decoded from its storage Secret."""
    res = kubectl("-n", NS, "get", "secrets", "-l", f"owner=helm,name={name}", "-o", "json")
    assert res.returncode == 0, res.stderr
    return addons.newest_release(json.loads(res.stdout)["items"])


@pytest.fixture
def drill_spec(spec: ClusterSpec, tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """A copy of the lab spec (relative paths made absolute) and a chart of our own."""
    lab_dir = paths.inventories_dir() / spec.name
    data: dict[str, Any] = yaml.safe_load((lab_dir / "cluster.yml").read_text())
    absolute_paths(data, lab_dir)
    chart = tmp_path / "chart"
    shutil.copytree(paths.ROOT / "charts" / "echo", chart)
    env = tmp_path / "env"
    env.mkdir()
    return env / "cluster.yml", chart, data


def _write(spec_file: Path, data: dict[str, Any], extra: list[dict[str, Any]]) -> None:
    spec_file.write_text(yaml.safe_dump({**data, "releases": [*data["releases"], *extra]},
                                        sort_keys=False))


def _push_chart(spec: ClusterSpec, chart: Path, version: str) -> str:
    """Package `chart` at `version` and push it to the lab mirror's registry; returns its oci://
    repository."""
    helm = paths.cache_dir() / "mirror" / "build" / "helm" / spec.kubernetes.release.helm / "helm"
    assert spec.lab is not None
    repo = f"oci://{spec.lab.gateway}:5000/{NS}"
    out = chart.parent / "packages"
    for cmd in ([str(helm), "package", str(chart), "--version", version, "-d", str(out)],
                [str(helm), "push", str(out / f"echo-{version}.tgz"), repo, "--plain-http"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
    return repo


def test_release_add_upgrade_remove(spec: ClusterSpec,
                                    drill_spec: tuple[Path, Path, dict[str, Any]],
                                    kubectl: Kubectl) -> None:
    spec_file, chart, data = drill_spec
    repo = _push_chart(spec, chart, "0.1.0")
    extra = {"name": "extra", "namespace": NS, "chart": "echo", "version": "0.1.0",
             "source": {"oci": repo, "plain_http": True},
             "values": {"replicas": 1, "ingress": {"host": "extra.drill.test"},
                        "gateway": {"host": "extra-gw.drill.test"}}}

    _write(spec_file, data, [extra])
    assert _deploy(spec_file).returncode == 0
    rel = _helm_release(kubectl, "extra")
    assert rel is not None and rel["info"]["status"] == "deployed"
    assert rel["chart"]["metadata"]["version"] == "0.1.0"
    ready = kubectl("-n", NS, "rollout", "status", "deployment/echo", "--timeout=60s", timeout=70)
    assert ready.returncode == 0, ready.stderr

    _push_chart(spec, chart, "0.1.1")
    _write(spec_file, data, [{**extra, "version": "0.1.1"}])
    assert _deploy(spec_file).returncode == 0
    rel = _helm_release(kubectl, "extra")
    assert rel is not None and rel["chart"]["metadata"]["version"] == "0.1.1"
    assert rel["version"] == 2, "a version change is one upgrade"

    # unchanged: nothing to do
    assert _deploy(spec_file, "--expect-no-changes").returncode == 0

    _write(spec_file, data, [])
    assert _deploy(spec_file).returncode == 0
    assert _helm_release(kubectl, "extra") is None
    gone = kubectl("-n", NS, "get", "deployment", "echo")
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    recorded = kubectl("-n", "kube-system", "get", "configmap", "kubeforge-releases",
                       "-o", "jsonpath={.data.releases}")
    assert f"{NS}/extra" not in recorded.stdout
    kubectl("delete", "namespace", NS, "--wait=false")

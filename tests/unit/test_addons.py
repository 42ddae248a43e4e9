"""The add-on expansion both adapters consume: order, sources, merged values, version rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import addons, versions
from kubeforge.errors import KubeforgeError, SpecError
from kubeforge.spec import load_spec
from kubeforge.spec.models import ClusterSpec

Writer = Callable[[dict[str, Any]], Path]


def _problems(path: Path) -> list[str]:
    try:
        load_spec(path, check_files=False)
    except SpecError as exc:
        return str(exc).splitlines()
    return []


def _spec(data: dict[str, Any], write_spec: Writer) -> ClusterSpec:
    return load_spec(write_spec(data), check_files=False)


def _minimal(lab_data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in lab_data.items() if k not in ("releases", "cert_manager", "mirrors")}


def test_lab_expands_in_install_order(lab_files: Path) -> None:
    planned = addons.expand(load_spec("lab"))
    assert [f"{r.namespace}/{r.name}" for r in planned] == [
        "traefik/traefik", "cert-manager/cert-manager", "cert-manager/kubeforge-issuers",
        "cert-manager/pebble", "echo/echo"]
    assert addons.manifests(load_spec("lab")) == ["traefik_crds", "gateway_api"]


def test_upstream_defaults(lab_data: dict[str, Any], write_spec: Writer) -> None:
    planned = {r.name: r for r in addons.expand(_spec(_minimal(lab_data), write_spec))}
    traefik = planned["traefik"]
    # kubeforge's own chart, with or without a mirror: the lab runs what a user gets
    assert (traefik.repo, traefik.version, traefik.chart) == (None, None, "kubeforge-traefik")
    assert traefik.path is not None and (Path(traefik.path) / "Chart.yaml").is_file()
    assert traefik.values == {"image": {"tag": f"v{versions.TRAEFIK}"},
                              "gateway": {"enabled": True}}
    cm = planned["cert-manager"]
    assert cm.repo == versions.UPSTREAM_CHART_REPOS["cert-manager"]
    assert cm.version == f"v{versions.CERT_MANAGER}"
    assert cm.values["crds"] == {"enabled": True, "keep": True}
    # a self-signed CA issuer out of the box
    assert planned["kubeforge-issuers"].values == {
        "issuers": [{"name": "kubeforge-ca", "type": "selfsigned_ca"}]}
    assert planned["kubeforge-issuers"].path is not None
    assert (Path(planned["kubeforge-issuers"].path) / "Chart.yaml").is_file()


def test_mirror_replaces_every_chart_repository(lab_files: Path) -> None:
    for r in addons.expand(load_spec("lab")):
        assert r.repo in (None, "http://10.240.0.1:8080/charts")


def test_old_cert_manager_gets_its_own_crd_switch(lab_files: Path) -> None:
    cm = next(r for r in addons.expand(load_spec("lab")) if r.name == "cert-manager")
    assert cm.version == "v1.11.5" and cm.values["installCRDs"] is True


def test_values_files_then_inline_values(lab_data: dict[str, Any], write_spec: Writer,
                                         tmp_path: Path) -> None:
    (tmp_path / "a-values.yaml").write_text("x: {a: 1, b: 1}\nkeep: true\n")
    (tmp_path / "b-values.yaml").write_text("x: {b: 2}\n")
    data = _minimal(lab_data)
    data["releases"] = [{"name": "app", "chart": "app", "version": "1.0.0",
                         "source": {"repo": "https://charts.example.org"},
                         "values_files": ["a-values.yaml", "b-values.yaml"],
                         "values": {"x": {"c": 3}}}]
    app = addons.expand(_spec(data, write_spec))[-1]
    assert app.values == {"x": {"a": 1, "b": 2, "c": 3}, "keep": True}


def test_values_file_that_is_not_a_mapping(lab_data: dict[str, Any], write_spec: Writer,
                                           tmp_path: Path) -> None:
    (tmp_path / "bad-values.yaml").write_text("- a\n- b\n")
    data = _minimal(lab_data)
    data["releases"] = [{"name": "app", "chart": "app", "version": "1.0.0",
                         "source": {"repo": "https://charts.example.org"},
                         "values_files": ["bad-values.yaml"]}]
    with pytest.raises(KubeforgeError, match="must hold a mapping"):
        addons.expand(_spec(data, write_spec))


def test_ingress_values_override_kubeforge_defaults(lab_data: dict[str, Any],
                                                    write_spec: Writer) -> None:
    data = _minimal(lab_data)
    data["ingress"] = {"controller": "traefik", "gateway_api": False, "version": "v3.6.13",
                       "values": {"hostPorts": {"web": 8080}, "image": {"repository": "r/t"}}}
    spec = _spec(data, write_spec)
    traefik = addons.expand(spec)[0]
    assert traefik.values == {"image": {"tag": "v3.6.13", "repository": "r/t"},
                              "gateway": {"enabled": False}, "hostPorts": {"web": 8080}}
    assert addons.manifests(spec) == ["traefik_crds"]


def test_ingress_version_is_traefiks(lab_data: dict[str, Any], write_spec: Writer) -> None:
    data = _minimal(lab_data)
    data["ingress"] = {"version": "41.6.0"}  # a version of Traefik's own chart
    assert any("ingress.version" in p for p in _problems(write_spec(data)))


def test_traefik_chart_names_the_pinned_traefik() -> None:
    chart = yaml.safe_load((addons.builtin_chart(addons.TRAEFIK_CHART) / "Chart.yaml")
                           .read_text())
    assert chart["appVersion"] == f"v{versions.TRAEFIK}"


def test_no_ingress_no_cert_manager(lab_data: dict[str, Any], write_spec: Writer) -> None:
    data = _minimal(lab_data)
    data["ingress"] = {"controller": "none"}
    data["cert_manager"] = {"enabled": False}
    assert addons.expand(_spec(data, write_spec)) == []


def test_reserved_release_name(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["releases"].append({"name": "traefik", "namespace": "traefik", "chart": "traefik",
                                 "version": "1.0.0", "source": {"repo": "https://x.test"}})
    found = _problems(write_spec(lab_data))
    assert any("releases[2].name" in p and "ingress/cert_manager sections" in p for p in found)


def test_local_chart_needs_no_version(lab_data: dict[str, Any], write_spec: Writer) -> None:
    assert not [p for p in _problems(write_spec(lab_data)) if "version" in p]


def test_local_chart_digest_follows_names_and_contents(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: c\nversion: 0.1.0\n")
    (chart / "templates" / "a.yaml").write_text("kind: ConfigMap\n")
    first = addons.chart_digest(chart)
    assert first == addons.chart_digest(chart)
    (chart / "templates" / "a.yaml").write_text("kind: Secret\n")
    edited = addons.chart_digest(chart)
    (chart / "templates" / "a.yaml").rename(chart / "templates" / "b.yaml")
    assert len({first, edited, addons.chart_digest(chart)}) == 3
    rel = addons.PlannedRelease(name="c", namespace="n", chart="c", version=None, path=str(chart))
    assert rel.as_dict()["checksum"] == addons.chart_digest(chart)
    remote = addons.PlannedRelease(name="c", namespace="n", chart="c", version="1", repo="http://r")
    assert remote.as_dict()["checksum"] is None


def test_newest_release_decodes_helms_storage_secret() -> None:
    import base64
    import gzip
    import json

    from kubeforge.addons import newest_release

    def secret(version: int, status: str) -> dict[str, Any]:
        body = {"info": {"status": status}, "version": version}
        helm = base64.b64encode(gzip.compress(json.dumps(body).encode()))
        return {"metadata": {"labels": {"version": str(version)}},
                "data": {"release": base64.b64encode(helm).decode()}}

    # revision 10 is newer than 9 (numbers, not strings)
    found = newest_release([secret(9, "superseded"), secret(10, "deployed")])
    assert found is not None and found["info"]["status"] == "deployed"
    assert newest_release([]) is None

"""Every validation rule, each with a bad input and the message a user sees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubeforge.errors import SpecError
from kubeforge.spec import load_spec

Writer = Callable[[dict[str, Any]], Path]


def problems(path: Path, check_files: bool = False) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_spec(path, check_files=check_files)
    assert str(path) in str(err.value) or path.name in str(err.value)
    return err.value.problems


def one(path: Path, *needles: str, check_files: bool = False) -> str:
    found = problems(path, check_files)
    hits = [p for p in found if all(n in p for n in needles)]
    assert hits, f"no problem containing {needles} in {found}"
    return hits[0]


def test_lab_spec_is_valid() -> None:
    spec = load_spec("lab", check_files=False)
    assert [h.name for h in spec.control_plane] == ["cp1", "cp2", "cp3"]
    assert [h.name for h in spec.workers] == ["w1", "w2"]


def test_example_prod_is_valid() -> None:
    spec = load_spec("example-prod", check_files=False)
    assert len(spec.control_plane) == 3
    assert spec.cni.plugin == "flannel"


def test_unknown_key_suggests_the_right_one(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][0]["adress"] = lab_data["hosts"][0].pop("address")
    msg = one(write_spec(lab_data), "hosts[0].adress", "unknown key")
    assert "did you mean 'address'" in msg
    assert "line " in msg


def test_unknown_top_level_key(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["kubernets"] = {"version": "1.37.2"}
    assert "did you mean 'kubernetes'" in one(write_spec(lab_data), "kubernets")


@pytest.mark.parametrize("count", [2, 4])
def test_even_control_plane_count(count: int, lab_data: dict[str, Any],
                                  write_spec: Writer) -> None:
    hosts = lab_data["hosts"]
    for i, h in enumerate(hosts):
        h["roles"] = ["control_plane"] if i < count else ["worker"]
    msg = one(write_spec(lab_data), "even count")
    assert f"use {count - 1} or {count + 1} control-plane hosts" in msg


def test_no_control_plane(lab_data: dict[str, Any], write_spec: Writer) -> None:
    for h in lab_data["hosts"]:
        h["roles"] = ["worker"]
    assert "give 1, 3 or 5 hosts" in one(write_spec(lab_data), "no host has the control_plane")


def test_duplicate_host_name(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][4]["name"] = "w1"
    msg = one(write_spec(lab_data), "hosts[4].name", "'w1' is used by 2 hosts")
    assert "give every host its own name" in msg


def test_duplicate_host_address(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][1]["address"] = "10.240.0.11"
    msg = one(write_spec(lab_data), "hosts[1].address", "10.240.0.11")
    assert "(cp1, cp2)" in msg


def test_invalid_address(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][0]["address"] = "10.240.0.300"
    assert "write it like 10.0.0.11" in one(write_spec(lab_data), "hosts[0].address", "IPv4")


def test_host_outside_node_cidr(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][3]["address"] = "10.241.0.5"
    one(write_spec(lab_data), "hosts[3].address", "outside network.node_cidr")


@pytest.mark.parametrize(("field", "value", "other"), [
    ("pod_cidr", "10.96.0.0/16", "service_cidr"),
    ("pod_cidr", "10.240.0.0/16", "node_cidr"),
    ("service_cidr", "10.240.0.0/20", "node_cidr"),
])
def test_overlapping_cidrs(field: str, value: str, other: str, lab_data: dict[str, Any],
                           write_spec: Writer) -> None:
    lab_data["network"][field] = value
    msg = one(write_spec(lab_data), f"network.{field}", f"overlaps {other}")
    assert "pick a" in msg


def test_vip_outside_subnet(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["control_plane_endpoint"]["address"] = "10.9.9.9"
    msg = one(write_spec(lab_data), "control_plane_endpoint.address", "not a usable address")
    assert "inside network.node_cidr" in msg


def test_vip_equal_to_host(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["control_plane_endpoint"]["address"] = "10.240.0.12"
    one(write_spec(lab_data), "control_plane_endpoint.address", "address of host cp2")


def test_vip_needs_interface(lab_data: dict[str, Any], write_spec: Writer) -> None:
    del lab_data["control_plane_endpoint"]["interface"]
    one(write_spec(lab_data), "control_plane_endpoint.interface", "needs the NIC")


def test_external_endpoint_needs_host(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["control_plane_endpoint"] = {"mode": "external", "port": 6443}
    one(write_spec(lab_data), "control_plane_endpoint.host", "needs the load balancer")


def test_unknown_endpoint_mode(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["control_plane_endpoint"]["mode"] = "haproxy"
    msg = one(write_spec(lab_data), "control_plane_endpoint.mode", "'haproxy' is not allowed")
    assert "'vip'" in msg and "'external'" in msg


def test_unsupported_version(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["kubernetes"]["version"] = "1.29.0"
    msg = one(write_spec(lab_data), "kubernetes.version", "not supported")
    assert "1.37.2" in msg


def test_malformed_version(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["kubernetes"]["version"] = "1.37"
    one(write_spec(lab_data), "kubernetes.version", "write it as 1.37.2")


def test_kubelet_newer_than_control_plane(lab_data: dict[str, Any],
                                          write_spec: Writer) -> None:
    lab_data["kubernetes"]["version"] = "1.36.3"
    lab_data["hosts"][3]["kubelet_version"] = "1.37.2"
    msg = one(write_spec(lab_data), "hosts[3].kubelet_version", "newer than the control plane")
    assert "upgrade the control plane first" in msg


def test_control_plane_kubelet_skew(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][0]["kubelet_version"] = "1.36.3"
    one(write_spec(lab_data), "hosts[0].kubelet_version", "control-plane host cp1")


def test_older_worker_kubelet_is_fine(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][3]["kubelet_version"] = "v1.36.3"
    spec = load_spec(write_spec(lab_data), check_files=False)
    assert spec.hosts[3].kubelet_version == "1.36.3"


def test_cni_options_for_the_other_plugin(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["cni"]["calico"] = {"mode": "vxlan"}
    msg = one(write_spec(lab_data), "cni.calico", "cni.plugin is flannel")
    assert "remove cni.calico or set cni.plugin: calico" in msg


def test_flannel_host_gw_with_vxlan_port(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["cni"]["flannel"] = {"backend": "host-gw", "port": 8472}
    one(write_spec(lab_data), "cni.flannel.port", "backend is host-gw")


def test_calico_bgp_with_vxlan_port(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["cni"] = {"plugin": "calico", "calico": {"mode": "bgp", "vxlan_port": 4789}}
    one(write_spec(lab_data), "cni.calico.vxlan_port", "mode is bgp")


def test_calico_is_refused_with_the_reason(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["cni"] = {"plugin": "calico"}
    msg = one(write_spec(lab_data), "cni.plugin", "Calico is not available")
    assert "use cni.plugin: flannel" in msg


def test_calico_vxlan_with_asn(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["cni"] = {"plugin": "calico", "calico": {"mode": "vxlan", "bgp_asn": 64512}}
    one(write_spec(lab_data), "cni.calico.bgp_asn", "no BGP")


def _release(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "podinfo", "namespace": "apps", "chart": "podinfo",
                            "version": "6.7.0", "source": {"repo": "https://example.org/c"}}
    base.update(kw)
    return base


def test_chart_without_version(lab_data: dict[str, Any], write_spec: Writer) -> None:
    rel = _release()
    del rel["version"]
    lab_data["releases"] = [rel]
    msg = one(write_spec(lab_data), "releases[0].version", "has no version")
    assert "pin the chart version" in msg


def test_chart_with_two_sources(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["releases"] = [_release(source={"repo": "https://x.org", "oci": "oci://r/x"})]
    one(write_spec(lab_data), "releases[0].source", "exactly one of")


def test_duplicate_release(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["releases"] = [_release(), _release()]
    one(write_spec(lab_data), "releases[1].name", "declared twice")


def test_missing_values_file(lab_data: dict[str, Any], write_spec: Writer,
                             lab_files: Path) -> None:
    lab_data["releases"] = [_release(values_files=["values/podinfo.yml"])]
    msg = one(write_spec(lab_data), "releases[0].values_files[0]", "does not exist",
              check_files=True)
    assert "relative paths start at the spec file's folder" in msg


def test_acme_issuer_without_settings(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["cert_manager"]["issuers"].append({"name": "le", "type": "acme"})
    last = len(lab_data["cert_manager"]["issuers"]) - 1
    one(write_spec(lab_data), f"cert_manager.issuers[{last}]", "no acme section")


def test_acme_issuer_without_ingress(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["ingress"]["controller"] = "none"
    lab_data["cert_manager"]["issuers"] = [
        {"name": "le", "type": "acme", "acme": {"server": "https://acme.test/dir",
                                                "email": "ops@example.org"}}]
    one(write_spec(lab_data), "cert_manager.issuers[0]", "ingress.controller is none")


def test_missing_ssh_key(lab_data: dict[str, Any], write_spec: Writer, tmp_path: Path) -> None:
    lab_data["ssh"]["key"] = str(tmp_path / "nope" / "id_ed25519")
    del lab_data["lab"]
    msg = one(write_spec(lab_data), "ssh.key", "does not exist", check_files=True)
    assert "fix the path" in msg


def test_lab_ssh_key_hint(lab_data: dict[str, Any], write_spec: Writer,
                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBEFORGE_CACHE", str(tmp_path / "empty"))
    msg = one(write_spec(lab_data), "ssh.key", "does not exist", check_files=True)
    assert "kubeforge lab up" in msg


def test_every_problem_is_reported_at_once(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["hosts"][1]["address"] = "10.240.0.11"
    lab_data["network"]["pod_cidr"] = "10.96.0.0/16"
    lab_data["control_plane_endpoint"]["address"] = "10.240.0.13"
    assert len(problems(write_spec(lab_data))) >= 3


def test_lab_gateway_must_be_free(lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["lab"]["gateway"] = "10.240.0.21"
    one(write_spec(lab_data), "lab.gateway", "host w1")


def test_yaml_syntax_error_names_line(write_spec: Writer, tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_text("name: lab\nhosts:\n  - name: a\n   address: x\n")
    from kubeforge.errors import KubeforgeError

    with pytest.raises(KubeforgeError, match=r"cluster.yml:\d+: not valid YAML"):
        load_spec(path)


def test_top_level_must_be_mapping(write_spec: Writer, tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_text("- a\n- b\n")
    assert "must be a mapping" in problems(path)[0]


def test_unknown_environment() -> None:
    from kubeforge.errors import KubeforgeError

    with pytest.raises(KubeforgeError, match=r"known environments: .*lab"):
        load_spec("no-such-env")

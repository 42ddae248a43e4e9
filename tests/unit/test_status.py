"""`kubeforge status`: parsing of kubectl, etcdctl and kubeadm output, thresholds, verdict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubeforge import status
from kubeforge.errors import SpecError
from kubeforge.render import group_vars
from kubeforge.spec import load_spec
from kubeforge.spec.models import ClusterSpec

DAY = 86_400  # residualTime is in seconds


def _node(name: str, ready: str = "True", roles: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                **{f"node-role.kubernetes.io/{r}": "" for r in roles}}},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": ready}],
                       "nodeInfo": {"kubeletVersion": "v1.37.2"}}}


# shaped like `kubeadm certs check-expiration -o json` (output.kubeadm.k8s.io/v1alpha3)
EXPIRY = {
    "kind": "CertificateExpirationInfo",
    "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
    "certificates": [
        {"name": "admin.conf", "expirationDate": "2027-11-23T18:40:12Z",
         "residualTime": 364 * DAY + 5, "caName": "ca",
         "externallyManaged": False, "missing": False},
        {"name": "apiserver", "expirationDate": "2026-12-10T18:40:12Z",
         "residualTime": 17 * DAY - 1, "caName": "ca",
         "externallyManaged": False, "missing": False},
        {"name": "super-admin.conf", "expirationDate": "", "residualTime": 0,
         "caName": "ca", "externallyManaged": False, "missing": True},
    ],
    "certificateAuthorities": [
        {"name": "ca", "expirationDate": "2035-11-21T18:40:12Z",
         "residualTime": 3650 * DAY, "externallyManaged": False, "missing": False},
    ],
}


def test_parse_nodes_reads_ready_version_and_roles() -> None:
    nodes = status.parse_nodes({"items": [_node("cp1", roles=("control-plane",)),
                                          _node("w1", ready="Unknown")]})
    assert nodes == [status.Node("cp1", True, "v1.37.2", ("control-plane",)),
                     status.Node("w1", False, "v1.37.2", ("<none>",))]


def test_parse_cert_expiry_days_and_missing_certificates() -> None:
    certs = status.parse_cert_expiry("cp1", EXPIRY)
    assert [(c.name, c.days, c.authority) for c in certs] == [
        ("admin.conf", 364, False), ("apiserver", 16, False), ("ca", 3650, True)]


@pytest.mark.parametrize(("days", "warn", "expiring"), [(29, 30, True), (30, 30, False),
                                                        (0, 1, True), (-3, 30, True)])
def test_threshold_is_strictly_below(days: int, warn: int, expiring: bool) -> None:
    cert = status.Cert("cp1", "apiserver", "x", days, False)
    assert (status.expiring([cert], warn) == [cert]) is expiring


def test_parse_members_joins_health_by_endpoint() -> None:
    members = {"members": [
        {"ID": 1, "name": "cp1", "clientURLs": ["https://10.0.0.11:2379"]},
        {"ID": 2, "name": "cp2", "clientURLs": ["https://10.0.0.12:2379"], "isLearner": True},
        {"ID": 3, "name": "", "clientURLs": [], "peerURLs": ["https://192.0.2.1:2380"]},
    ]}
    health = [{"endpoint": "https://10.0.0.11:2379", "health": True},
              {"endpoint": "https://10.0.0.12:2379", "health": False}]
    got = status.parse_members(members, health)
    assert got[0] == status.Member("cp1", "https://10.0.0.11:2379", False, True)
    assert got[1].learner and got[1].healthy is False
    assert got[2].name == "(unstarted 3)" and got[2].healthy is None
    assert got[2].endpoint == "https://192.0.2.1:2380"


@pytest.fixture
def spec(lab_files: Path) -> ClusterSpec:
    return load_spec("lab")


def _healthy(spec: ClusterSpec) -> status.Report:
    return status.Report(
        nodes=[status.Node(h.name, True, "v1.37.2", ("control-plane",)) for h in spec.hosts],
        members=[status.Member(h.name, f"https://{h.address}:2379", False, True)
                 for h in spec.control_plane],
        certs=[status.Cert("cp1", "apiserver", "2027-11-23T18:40:12Z", 364, False)])


def test_healthy_cluster_has_no_problems(spec: ClusterSpec) -> None:
    report = _healthy(spec)
    assert status.problems(report, spec, 30) == []
    text = status.render(report, spec, 30)
    assert text.endswith("status: healthy") and "WARNING" not in text


@pytest.mark.parametrize(("breaks", "expected"), [
    (lambda r: r.nodes.pop(), "is in the spec but not in the cluster"),
    (lambda r: r.nodes.__setitem__(0, status.Node("cp1", False, "v1.37.2", ())), "not Ready"),
    (lambda r: r.members.pop(), "etcd has 2 voting members"),
    (lambda r: r.members.__setitem__(1, status.Member("cp2", "e", False, False)), "unhealthy"),
    (lambda r: r.certs.append(status.Cert("cp2", "apiserver", "soon", 3, False)),
     "expires in 3 days"),
    (lambda r: r.errors.append("the API does not answer"), "does not answer"),
])
def test_each_problem_makes_the_cluster_unhealthy(
        spec: ClusterSpec, breaks: Callable[[status.Report], object], expected: str) -> None:
    report = _healthy(spec)
    breaks(report)
    found = status.problems(report, spec, 30)
    assert any(expected in p for p in found), found
    assert "status: UNHEALTHY" in status.render(report, spec, 30)


def test_certificate_table_shows_the_soonest_expiry_once(spec: ClusterSpec) -> None:
    report = _healthy(spec)
    report.certs.append(status.Cert("cp2", "apiserver", "2027-11-20T10:00:00Z", 361, False))
    rows = [line for line in status.render(report, spec, 30).splitlines()
            if line.startswith("apiserver ")]
    assert rows == ["apiserver                    2027-11-20T10:00:00Z         361  cp1,cp2"]


def test_expiring_certificate_prints_a_warning_line(spec: ClusterSpec) -> None:
    report = _healthy(spec)
    report.certs.append(status.Cert("cp2", "front-proxy-client", "2026-12-01", 7, False))
    lines = status.render(report, spec, 30).splitlines()
    warnings = [line for line in lines if line.startswith("WARNING:")]
    assert warnings == ["WARNING: front-proxy-client on cp2 expires in 7 days (threshold 30): "
                        "run `kubeforge certs lab --renew`"]


def test_spec_certificates_warn_days(lab_files: Path, lab_data: dict[str, Any],
                                     write_spec: Callable[[dict[str, Any]], Path]) -> None:
    assert load_spec("lab").certificates.warn_days == 30
    lab_data["releases"] = []
    lab_data["certificates"] = {"warn_days": 60}
    spec = load_spec(str(write_spec(lab_data)), check_files=False)
    assert group_vars(spec)["kubeforge_certificates"] == {"warn_days": 60}
    lab_data["certificates"] = {"warn_days": 0}
    with pytest.raises(SpecError, match="warn_days"):
        load_spec(str(write_spec(lab_data)), check_files=False)


def test_an_even_number_of_etcd_members_prints_a_warning(spec: ClusterSpec) -> None:
    report = _healthy(spec)
    assert status.even_members(report, spec) == []
    report.members.append(status.Member("cp4", "https://10.240.0.14:2379", False, True))
    warnings = [line for line in status.render(report, spec, 30).splitlines()
                if line.startswith("WARNING: etcd has 4 voting members")]
    assert len(warnings) == 1 and "kubeforge replace-node lab OLD NEW" in warnings[0]
    report.members[-1] = status.Member("cp4", "https://10.240.0.14:2379", True, None)
    assert status.even_members(report, spec) == [], "a learner does not vote"

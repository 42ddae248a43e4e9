"""kubeadm_certs: every certificate (not a CA) now expires after the time the scenario recorded
once the cluster was built, kube-apiserver serves the renewed one, and the cluster answers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.verify.conftest import Kubectl

testinfra_hosts = ["ansible://control_plane"]


def _recorded() -> str:
    return (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "renew-expiring-before").read_text()


def test_every_certificate_expires_after_the_recorded_time(host: Any) -> None:
    info = json.loads(host.check_output("kubeadm certs check-expiration -o json"))
    certs = [c for c in info["certificates"] if not c.get("missing")]
    assert certs
    before = _recorded().strip()
    assert [c["name"] for c in certs if c["expirationDate"] <= before] == []


def test_apiserver_serves_the_renewed_certificate(host: Any, kubectl: Kubectl) -> None:
    address = host.ansible.get_variables()["ansible_host"]
    enddate = "openssl x509 -noout -enddate"
    served = host.check_output(
        f"openssl s_client -connect {address}:6443 </dev/null 2>/dev/null | {enddate}")
    assert served == host.check_output(f"{enddate} -in /etc/kubernetes/pki/apiserver.crt")
    assert kubectl.run("get --raw /readyz").stdout.strip() == "ok"

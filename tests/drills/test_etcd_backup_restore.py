"""Drill: etcd backup and restore. Objects created before a backup and deleted after it come back
with `kubeforge restore`; a snapshot whose checksum does not match is refused with nothing
touched; the cluster is healthy afterwards (nodes Ready, kube-system pods Running)."""

from __future__ import annotations

import json
import re
import time

import pytest

from kubeforge.spec import ClusterSpec

from .conftest import Kubectl, wait_for
from .remote import env_arg, healthy, kubeforge, on

pytestmark = pytest.mark.lab

NS = "kubeforge-drill-etcd"
CONFIGMAPS = {f"drill-{i}": f"value-{i}" for i in range(3)}


def _configmaps(kubectl: Kubectl) -> dict[str, str] | None:
    res = kubectl("-n", NS, "get", "configmaps", "-l", "kubeforge-drill=etcd", "-o", "json")
    if res.returncode != 0:
        return None
    return {cm["metadata"]["name"]: cm["data"]["key"] for cm in json.loads(res.stdout)["items"]}


def test_backup_delete_restore(spec: ClusterSpec, kubectl: Kubectl,
                               pytestconfig: pytest.Config) -> None:
    env = env_arg(pytestconfig)
    assert wait_for("a healthy cluster before the drill", lambda: healthy(kubectl), 300)
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", timeout=120)
    assert kubectl("create", "namespace", NS).returncode == 0
    for name, value in CONFIGMAPS.items():
        res = kubectl("-n", NS, "create", "configmap", name, f"--from-literal=key={value}")
        assert res.returncode == 0, res.stderr
        assert kubectl("-n", NS, "label", "configmap", name, "kubeforge-drill=etcd").returncode == 0
    assert _configmaps(kubectl) == CONFIGMAPS

    backup = kubeforge("backup", env)
    print(backup.stdout[-2500:])
    assert backup.returncode == 0, "kubeforge backup failed"
    found = re.search(r"snapshot (etcd-\S+\.db) taken on (\S+)", backup.stdout)
    assert found, "kubeforge backup must name the snapshot it took"
    snapshot = found.group(1)
    print(f"backup: {snapshot} in {backup.took:.1f}s")

    started = time.monotonic()
    assert kubectl("delete", "namespace", NS, "--wait=true", timeout=120).returncode == 0
    print(f"namespace {NS} deleted in {time.monotonic() - started:.1f}s")
    assert _configmaps(kubectl) in (None, {})

    # A copy whose checksum does not match is refused before anything stops.
    cp = spec.control_plane[0].name
    bad = snapshot.replace(".db", "-tampered.db")
    folder = spec.etcd_backup.dir
    tamper = (f"cd {folder} && cp {snapshot} {bad} && sed 's/{snapshot}/{bad}/' {snapshot}.sha256"
              f" > {bad}.sha256 && printf x >> {bad}")
    assert on(spec, cp, tamper).returncode == 0
    try:
        refused = kubeforge("restore", env, bad)
        print(refused.stdout[-2000:])
        assert refused.returncode != 0, "a snapshot with a wrong checksum must be refused"
        assert "does not match its sha256 file" in refused.stdout
        for h in spec.control_plane:  # nothing was stopped: every static pod still in place
            res = on(spec, h.name, "test -f /etc/kubernetes/manifests/etcd.yaml"
                     " && test -f /etc/kubernetes/manifests/kube-apiserver.yaml")
            assert res.returncode == 0, f"the refused restore touched {h.name}'s control plane"
        # one probe may catch a check failing for a moment on a saturated host: poll briefly
        assert wait_for("the API through the endpoint after the refusal", lambda: kubectl(
            "get", "--raw", "/readyz").returncode == 0, 60, interval=2)
        print(f"tampered snapshot refused in {refused.took:.1f}s, the API kept serving")
    finally:
        on(spec, cp, f"rm -f {folder}/{bad} {folder}/{bad}.sha256")

    restore = kubeforge("restore", env, snapshot)
    print(restore.stdout[-4000:])
    assert restore.returncode == 0, "kubeforge restore failed"
    print(f"restore: {restore.took:.1f}s (playbook, to every node Ready)")

    back = wait_for("the deleted ConfigMaps back", lambda: _configmaps(kubectl) == CONFIGMAPS, 60)
    assert back
    started = time.monotonic()
    assert wait_for("every node Ready and every kube-system pod Running",
                    lambda: healthy(kubectl), 300, interval=5)
    print(f"cluster healthy {time.monotonic() - started:.1f}s after the restore ended")

    # the same restore again (a retried job) must not rewind what was written since
    again = kubeforge("restore", env, snapshot)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "nothing to do" in again.stdout, again.stdout[-3000:]
    assert "[kubeforge] changed=0 " in again.stdout, again.stdout[-3000:]
    print(f"the same restore again: nothing to do in {again.took:.1f}s")
    assert kubectl("delete", "namespace", NS, "--wait=true", timeout=120).returncode == 0

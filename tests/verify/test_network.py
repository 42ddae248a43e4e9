"""Network state: pod-to-pod across nodes, pod-to-service, cluster DNS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Kubectl

testinfra_hosts: list[str] = []

NS = "kubeforge-verify"
# each pod answers with its own name, so a reply proves which pod (and node) was reached
SERVE = ("mkdir -p /www && busybox hostname > /www/index.html && "
         "exec busybox httpd -f -p 8080 -h /www")


def _manifest(image: str) -> str:
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: netcheck, namespace: {NS}}}
spec:
  selector: {{matchLabels: {{app: netcheck}}}}
  template:
    metadata: {{labels: {{app: netcheck}}}}
    spec:
      tolerations: [{{operator: Exists}}]
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: {image}
          command: [sh, -c, '{SERVE}']
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: netcheck, namespace: {NS}}}
spec:
  selector: {{app: netcheck}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


@pytest.fixture(scope="module")
def netcheck(kubectl: Kubectl, group_vars: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    image = group_vars["kubeforge_images"]["netcheck"]
    kubectl.host.run(f"cat > /tmp/netcheck.yaml <<'EOF'\n{_manifest(image)}\nEOF")
    kubectl.run("apply -f /tmp/netcheck.yaml")
    kubectl.run(f"-n {NS} rollout status daemonset/netcheck --timeout=180s")
    pods = kubectl.json(f"-n {NS} get pods -l app=netcheck")["items"]
    yield pods
    kubectl.run(f"delete namespace {NS} --wait=false", check=False)


# `timeout` rather than wget's own -T: Debian's static busybox 1.35 wget crashes with -T.
def _exec(kubectl: Kubectl, pod: dict[str, Any], cmd: str) -> Any:
    return kubectl.run(f"-n {NS} exec {pod['metadata']['name']} -- {cmd}", check=False)


def test_pod_to_pod_across_nodes(kubectl: Kubectl, netcheck: list[dict[str, Any]]) -> None:
    assert len({p["spec"]["nodeName"] for p in netcheck}) >= 2
    failures = []
    for src in netcheck:
        for dst in netcheck:
            if src["spec"]["nodeName"] == dst["spec"]["nodeName"]:
                continue
            res = _exec(kubectl, src, f"timeout 10 busybox wget -qO- http://{dst['status']['podIP']}:8080/")
            if res.rc != 0 or res.stdout.strip() != dst["metadata"]["name"]:
                failures.append(f"{src['spec']['nodeName']} -> {dst['spec']['nodeName']}: "
                                f"rc={res.rc} {res.stdout.strip()} {res.stderr.strip()}")
    assert not failures, failures


def test_pod_to_service_by_dns_name(kubectl: Kubectl, netcheck: list[dict[str, Any]],
                                    group_vars: dict[str, Any]) -> None:
    domain = group_vars["kubeforge_network"]["dns_domain"]
    for src in netcheck:
        res = _exec(kubectl, src, f"timeout 10 busybox wget -qO- http://netcheck.{NS}.svc.{domain}/")
        assert res.rc == 0, f"from {src['spec']['nodeName']}: {res.stderr}"
        assert res.stdout.strip().startswith("netcheck-")


def test_coredns_resolves_kubernetes_service(kubectl: Kubectl, netcheck: list[dict[str, Any]],
                                             group_vars: dict[str, Any]) -> None:
    domain = group_vars["kubeforge_network"]["dns_domain"]
    service_ip = kubectl.json("get service kubernetes")["spec"]["clusterIP"]
    res = _exec(kubectl, netcheck[0], f"busybox nslookup kubernetes.default.svc.{domain}")
    assert res.rc == 0, res.stdout + res.stderr
    assert service_ip in res.stdout

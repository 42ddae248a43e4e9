"""Cluster state, seen through the API: nodes, etcd, leases, the endpoint."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pytest

from .conftest import Kubectl, condition

testinfra_hosts: list[str] = []  # these tests use the kubectl fixture, not a host per test


def test_all_nodes_ready(kubectl: Kubectl, inventory_hosts: dict[str, list[str]]) -> None:
    nodes = kubectl.json("get nodes")["items"]
    names = sorted(n["metadata"]["name"] for n in nodes)
    assert names == inventory_hosts["cluster"]
    not_ready = [n["metadata"]["name"] for n in nodes if not condition(n)]
    assert not not_ready, f"not Ready: {not_ready}"


def test_etcd_members_healthy(kubectl: Kubectl, inventory_hosts: dict[str, list[str]]) -> None:
    cp = inventory_hosts["control_plane"]
    certs = ("--cacert /etc/kubernetes/pki/etcd/ca.crt "
             "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
             "--key /etc/kubernetes/pki/etcd/healthcheck-client.key")
    out = kubectl.run(f"-n kube-system exec etcd-{cp[0]} -- etcdctl {certs} "
                      "--endpoints https://127.0.0.1:2379 member list -w simple").stdout
    members = [line for line in out.strip().splitlines() if line]
    assert len(members) == len(cp)
    assert all(", started, " in m for m in members), members
    assert all(", false" in m for m in members), f"learners left: {members}"
    health = kubectl.run(f"-n kube-system exec etcd-{cp[0]} -- etcdctl {certs} "
                         "--endpoints https://127.0.0.1:2379 endpoint health --cluster")
    assert health.stdout.count("is healthy") == len(cp), health.stdout + health.stderr


@pytest.mark.parametrize("lease", ["kube-scheduler", "kube-controller-manager"])
def test_leader_lease_held(kubectl: Kubectl, lease: str,
                           inventory_hosts: dict[str, list[str]]) -> None:
    holder = kubectl.json(f"-n kube-system get lease {lease}")["spec"]["holderIdentity"]
    assert holder.split("_")[0] in inventory_hosts["control_plane"]


@pytest.mark.parametrize("pod_prefix", ["kube-apiserver", "kube-controller-manager",
                                        "kube-scheduler", "etcd"])
def test_control_plane_pods_on_every_cp(kubectl: Kubectl, pod_prefix: str,
                                        inventory_hosts: dict[str, list[str]]) -> None:
    pods = kubectl.json("-n kube-system get pods")["items"]
    running = {p["spec"]["nodeName"] for p in pods
               if p["metadata"]["name"].startswith(pod_prefix + "-")
               and p["status"].get("phase") == "Running"}
    assert running == set(inventory_hosts["control_plane"])


def test_endpoint_answers_from_control_host(group_vars: dict[str, Any]) -> None:
    ep = group_vars["kubeforge_control_plane_endpoint"]
    host, port = ep["target"].rsplit(":", 1)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        reply = tls.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 200"), reply


@pytest.mark.parametrize(("image", "pod_prefix"), [
    ("etcd", "etcd-"), ("coredns", "coredns-"), ("kube-apiserver", "kube-apiserver-"),
    ("kube-proxy", "kube-proxy-"),
])
def test_system_pods_run_the_bill_of_materials(kubectl: Kubectl, group_vars: dict[str, Any],
                                               image: str, pod_prefix: str) -> None:
    # kubeadm picks etcd, CoreDNS and the control-plane images itself: they must be the ones
    # kubeforge pinned and mirrored for the release
    pods = [p for p in kubectl.json("-n kube-system get pods")["items"]
            if p["metadata"]["name"].startswith(pod_prefix)]
    assert pods, f"no {pod_prefix}* pod"
    found = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert found == {group_vars["kubeforge_images"][image]}

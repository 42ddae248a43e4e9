"""The filters roles declare their wanted state with (plugins/filter/wanted.py, containerd.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType


def test_items_downloads_and_links(filter_plugin: Callable[[str], ModuleType]) -> None:
    w = filter_plugin("wanted")
    assert w.wanted_items(["/a", {"path": "/b", "mode": "0600"}], "install", mode="0755") == [
        {"path": "/a", "mode": "0755", "step": "install"},
        {"path": "/b", "mode": "0600", "step": "install"}]
    assert w.wanted_items(["curl"], "packages", "name") == [{"name": "curl", "step": "packages"}]
    assert w.wanted_items([{"dest": "/c", "sha256": "ab"}], "install", path_key="dest") == [
        {"dest": "/c", "path": "/c", "sha256": "ab", "step": "install"}]
    assert w.wanted_downloads([{"url": "http://m/x/runc.amd64", "sha256": "ab"}],
                              "/var/cache/kubeforge", "install") == [
        {"path": "/var/cache/kubeforge/runc.amd64", "sha256": "ab", "step": "install"}]
    assert w.wanted_links(["ctr"], "/usr/local/bin", "/opt/c/bin", "install") == [
        {"path": "/usr/local/bin/ctr", "target": "/opt/c/bin/ctr", "step": "install"}]


def test_registry_hosts_as_containerd_reads_them(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    hosts = filter_plugin("containerd").containerd_registry_hosts(
        {"docker.io": ["http://m:5000", "https://n"], "quay.io": []}, "Ansible managed")
    assert hosts == [
        {"path": "/etc/containerd/certs.d/docker.io/hosts.toml",
         "content": '# Ansible managed\nserver = "https://registry-1.docker.io"\n\n'
                    '[host."http://m:5000"]\n  capabilities = ["pull", "resolve"]\n\n'
                    '[host."https://n"]\n  capabilities = ["pull", "resolve"]\n'},
        {"path": "/etc/containerd/certs.d/quay.io/hosts.toml",
         "content": '# Ansible managed\nserver = "https://quay.io"\n'}]

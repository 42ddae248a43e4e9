"""Cross-field rules of the cluster spec. Each rule yields every problem it finds, with the field
path it concerns and the fix, so a user sees the whole list in one run."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import yaml

from kubeforge import addons, paths, versions
from kubeforge.cni import PLUGINS
from kubeforge.errors import KubeforgeError
from kubeforge.spec import formats
from kubeforge.spec.models import ClusterSpec

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str
    fix: str

    def text(self) -> str:
        return f"{self.message} — {self.fix}"


Rule = Callable[[ClusterSpec], Iterator[Problem]]


def _supported() -> str:
    return ", ".join(sorted(versions.RELEASES, reverse=True))


def control_plane_quorum(spec: ClusterSpec) -> Iterator[Problem]:
    count = len(spec.control_plane)
    if count == 0:
        yield Problem(("hosts",), "no host has the control_plane role",
                      "give 1, 3 or 5 hosts `roles: [control_plane]` (etcd runs on each of them)")
    elif count % 2 == 0:
        yield Problem(("hosts",), f"{count} control-plane hosts: an even count gives etcd no "
                      "better fault tolerance than one fewer and risks split votes",
                      f"use {count - 1} or {count + 1} control-plane hosts")


def unique_hosts(spec: ClusterSpec) -> Iterator[Problem]:
    for field in ("name", "address"):
        counts = Counter(str(getattr(h, field)) for h in spec.hosts)
        seen: set[str] = set()
        for i, h in enumerate(spec.hosts):
            value = str(getattr(h, field))
            if counts[value] > 1 and value in seen:
                owners = [x.name for x in spec.hosts if str(getattr(x, field)) == value]
                yield Problem(("hosts", i, field), f"{field} {value!r} is used by "
                              f"{len(owners)} hosts ({', '.join(owners)})",
                              f"give every host its own {field}")
            seen.add(value)


def hosts_in_node_network(spec: ClusterSpec) -> Iterator[Problem]:
    net = spec.network.node_cidr
    for i, h in enumerate(spec.hosts):
        if h.address not in net:
            yield Problem(("hosts", i, "address"), f"{h.address} is outside network.node_cidr "
                          f"{net}", "fix the address or widen network.node_cidr")


def cidrs_disjoint(spec: ClusterSpec) -> Iterator[Problem]:
    n = spec.network
    pairs: list[tuple[str, IPv4Network, str, IPv4Network]] = [
        ("pod_cidr", n.pod_cidr, "service_cidr", n.service_cidr),
        ("pod_cidr", n.pod_cidr, "node_cidr", n.node_cidr),
        ("service_cidr", n.service_cidr, "node_cidr", n.node_cidr),
    ]
    for a_name, a, b_name, b in pairs:
        if a.overlaps(b):
            yield Problem(("network", a_name), f"{a_name} {a} overlaps {b_name} {b}",
                          f"pick a {a_name} that shares no address with {b_name}")


def endpoint(spec: ClusterSpec) -> Iterator[Problem]:
    ep, net = spec.control_plane_endpoint, spec.network.node_cidr
    loc: Loc = ("control_plane_endpoint",)
    if ep.mode == "external":
        if not ep.host:
            yield Problem((*loc, "host"), "mode external needs the load balancer's host",
                          "set control_plane_endpoint.host to the LB's DNS name or address")
        for extra in ("address", "interface"):
            if getattr(ep, extra) is not None:
                yield Problem((*loc, extra), f"{extra} is only used by modes vip and kube-vip",
                              f"remove control_plane_endpoint.{extra} or change the mode")
        return
    if ep.host is not None:
        yield Problem((*loc, "host"), f"host is only used by mode external (mode is {ep.mode})",
                      "remove control_plane_endpoint.host, the VIP goes in `address`")
    if ep.interface is None:
        yield Problem((*loc, "interface"), f"mode {ep.mode} needs the NIC that carries the VIP",
                      "set control_plane_endpoint.interface (for example eth0)")
    vip = ep.address
    if vip is None:
        yield Problem((*loc, "address"), f"mode {ep.mode} needs a virtual IP address",
                      f"set control_plane_endpoint.address to a free address in {net}")
        return
    if vip not in net or vip in (net.network_address, net.broadcast_address):
        yield Problem((*loc, "address"), f"VIP {vip} is not a usable address of the hosts' "
                      f"subnet {net}", "pick a free address inside network.node_cidr")
    for h in spec.hosts:
        if h.address == vip:
            yield Problem((*loc, "address"), f"VIP {vip} is also the address of host {h.name}",
                          "the VIP must be an unused address that moves between nodes")
    if spec.lab and spec.lab.gateway == vip:
        yield Problem((*loc, "address"), f"VIP {vip} is the lab gateway", "pick another VIP")


def _triple(v: str) -> tuple[int, int, int]:
    major, minor, patch = v.split(".")
    return int(major), int(minor), int(patch)


def versions_supported(spec: ClusterSpec) -> Iterator[Problem]:
    cluster = spec.kubernetes.version
    if cluster not in versions.RELEASES:
        yield Problem(("kubernetes", "version"), f"Kubernetes {cluster} is not supported",
                      f"use one of {_supported()}")
        return
    cmaj, cmin, _ = _triple(cluster)
    for i, h in enumerate(spec.hosts):
        kv = h.kubelet_version
        if kv is None:
            continue
        loc: Loc = ("hosts", i, "kubelet_version")
        if kv not in versions.RELEASES:
            yield Problem(loc, f"kubelet {kv} is not supported", f"use one of {_supported()}")
            continue
        kmaj, kmin, _ = _triple(kv)
        if _triple(kv) > _triple(cluster):
            yield Problem(loc, f"kubelet {kv} is newer than the control plane {cluster}",
                          "a kubelet must never be newer than kube-apiserver: upgrade the "
                          "control plane first (kubernetes.version)")
        elif kmaj != cmaj or cmin - kmin > 3:
            yield Problem(loc, f"kubelet {kv} is more than 3 minor versions behind {cluster}",
                          "upgrade this node's kubelet first")
        if h.is_control_plane and kv != cluster:
            yield Problem(loc, f"control-plane host {h.name} pins kubelet {kv} but the control "
                          f"plane runs {cluster}", "control-plane kubelets follow "
                          "kubernetes.version: remove kubelet_version from this host")


def cni_options(spec: ClusterSpec) -> Iterator[Problem]:
    cni = spec.cni
    chosen = PLUGINS[cni.plugin]
    for name in PLUGINS:
        if name != cni.plugin and getattr(cni, name) is not None:
            yield Problem(("cni", name), f"options for {name} but cni.plugin is {cni.plugin}",
                          f"remove cni.{name} or set cni.plugin: {name}")
    if chosen.refused:
        usable = ", ".join(n for n, p in PLUGINS.items() if not p.refused)
        yield Problem(("cni", "plugin"), chosen.refused, f"use cni.plugin: {usable}")
    for loc, message, fix in chosen.findings(cni.chosen()):
        yield Problem(("cni", cni.plugin, *loc), message, fix)


def releases(spec: ClusterSpec) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(spec.releases):
        if r.version is None and r.source.path is None:
            yield Problem(("releases", i, "version"), f"chart {r.chart!r} of release {r.name} has "
                          "no version", "pin the chart version (floating charts make re-runs "
                          "change things nobody declared)")
        sources = [k for k in ("repo", "oci", "path") if getattr(r.source, k) is not None]
        if len(sources) != 1:
            yield Problem(("releases", i, "source"), f"release {r.name} has "
                          f"{len(sources) or 'no'} chart source(s) {sources or ''}".rstrip(),
                          "set exactly one of source.repo, source.oci or source.path")
        key = (r.namespace, r.name)
        if key in addons.RESERVED:
            yield Problem(("releases", i, "name"), f"release {r.namespace}/{r.name} is the one "
                          "kubeforge installs for the ingress/cert_manager sections",
                          "configure it there (e.g. ingress.values) or pick another name")
        if key in seen:
            yield Problem(("releases", i, "name"), f"release {r.namespace}/{r.name} is declared "
                          "twice", "give each release in a namespace its own name")
        seen.add(key)


def issuers(spec: ClusterSpec) -> Iterator[Problem]:
    cm = spec.cert_manager
    if cm.issuers and not cm.enabled:
        yield Problem(("cert_manager", "issuers"), "issuers are declared but cert_manager is "
                      "disabled", "set cert_manager.enabled: true or remove the issuers")
    names = Counter(x.name for x in cm.issuers)
    for i, iss in enumerate(cm.issuers):
        loc: Loc = ("cert_manager", "issuers", i)
        if names[iss.name] > 1:
            yield Problem((*loc, "name"), f"issuer name {iss.name!r} is used twice",
                          "give every issuer its own name")
        if iss.type == "acme" and iss.acme is None:
            yield Problem(loc, f"issuer {iss.name} has type acme but no acme section",
                          "add acme: {server: ..., email: ...}")
        if iss.type != "acme" and iss.acme is not None:
            yield Problem((*loc, "acme"), f"issuer {iss.name} is {iss.type} but has acme "
                          "settings", "remove the acme section or set type: acme")
        if iss.type == "acme" and spec.ingress.controller == "none":
            yield Problem(loc, f"ACME issuer {iss.name} solves HTTP-01 through an ingress, but "
                          "ingress.controller is none", "enable an ingress controller")


def lab(spec: ClusterSpec) -> Iterator[Problem]:
    if spec.lab is None:
        return
    gw, net = spec.lab.gateway, spec.network.node_cidr
    if gw not in net:
        yield Problem(("lab", "gateway"), f"lab gateway {gw} is outside network.node_cidr {net}",
                      "pick the bridge address inside node_cidr (usually its first address)")
    for h in spec.hosts:
        if h.address == gw:
            yield Problem(("lab", "gateway"), f"lab gateway {gw} is also host {h.name}'s address",
                          "the gateway is the host side of the lab bridge: pick a free address")


def _unknown_values(given: dict[str, Any], defaults: dict[str, Any],
                    loc: Loc) -> Iterator[tuple[Loc, str, list[str]]]:
    """Keys of `given` the chart's values do not have; a mapping that defaults to {} is free."""
    for key, value in given.items():
        if key not in defaults:
            yield (*loc, key), key, sorted(defaults)
        elif isinstance(value, dict) and isinstance(defaults[key], dict) and defaults[key]:
            yield from _unknown_values(value, defaults[key], (*loc, key))


def ingress_values(spec: ClusterSpec) -> Iterator[Problem]:
    """ingress.values go to kubeforge's Traefik chart: a key it does not have would be ignored by
    Helm without a word (a value meant for Traefik's own chart, a typo)."""
    if spec.ingress.controller != "traefik" or not spec.ingress.values:
        return
    chart = addons.builtin_chart(addons.TRAEFIK_CHART) / "values.yaml"
    defaults = yaml.safe_load(chart.read_text()) or {}
    for loc, key, known in _unknown_values(spec.ingress.values, defaults, ("ingress", "values")):
        close = difflib.get_close_matches(key, known, n=1)
        yield Problem(loc, f"kubeforge's Traefik chart has no value {key!r}",
                      f"did you mean {close[0]!r}?" if close else
                      f"its values: {', '.join(known)} (see {chart.name} of kubeforge-traefik)")


def consumer_formats(spec: ClusterSpec) -> Iterator[Problem]:
    """What the kernel, the kubelet and kube-apiserver would refuse later, on the hosts."""
    ep = spec.control_plane_endpoint
    if ep.interface is not None and (why := formats.interface_name(ep.interface)):
        yield Problem(("control_plane_endpoint", "interface"), f"{ep.interface!r} {why}",
                      "use the NIC's name as `ip link` shows it (for example eth0)")
    for i, h in enumerate(spec.hosts):
        for key, value in h.labels.items():
            if why := formats.label_key(key):
                yield Problem(("hosts", i, "labels", key), f"label key {key!r} {why}",
                              "fix the key (kubelet --node-labels would refuse it)")
            if why := formats.label_value(value):
                yield Problem(("hosts", i, "labels", key), f"label value {value!r} {why}",
                              "fix the value (kubelet --node-labels would refuse it)")
    net = spec.network
    if why := formats.service_cidr(net.service_cidr):
        yield Problem(("network", "service_cidr"), f"{net.service_cidr} {why}",
                      "use a /12 to /28, for example 10.96.0.0/12")
    if why := formats.pod_cidr(net.pod_cidr, len(spec.hosts)):
        yield Problem(("network", "pod_cidr"), f"{net.pod_cidr} {why}",
                      "use a larger network, for example 10.244.0.0/16")
    ports: list[tuple[Loc, int]] = [(("control_plane_endpoint", "port"), ep.port),
                                    (("ssh", "port"), spec.ssh.port)]
    ports += [(("hosts", i, "ssh", "port"), h.ssh.port) for i, h in enumerate(spec.hosts)
              if h.ssh.port is not None]
    for loc, port in ports:
        if port in formats.KUBERNETES_PORTS:
            yield Problem(loc, f"port {port} is {formats.KUBERNETES_PORTS[port]}'s on every "
                          "node", "pick a port Kubernetes does not use")


RULES: tuple[Rule, ...] = (
    control_plane_quorum, unique_hosts, hosts_in_node_network, cidrs_disjoint, endpoint,
    versions_supported, cni_options, releases, issuers, lab, consumer_formats, ingress_values,
)


def _files(spec: ClusterSpec) -> Iterator[tuple[Loc, Path, str]]:
    if spec.ssh.key:
        yield ("ssh", "key"), spec.ssh.key, "SSH private key"
    if spec.ssh.known_hosts:
        yield ("ssh", "known_hosts"), spec.ssh.known_hosts, "known_hosts file"
    for i, h in enumerate(spec.hosts):
        if h.ssh.key:
            yield ("hosts", i, "ssh", "key"), h.ssh.key, f"SSH private key of {h.name}"
    if spec.mirrors.checksums_file:
        yield ("mirrors", "checksums_file"), spec.mirrors.checksums_file, "checksum table"
    for i, r in enumerate(spec.releases):
        if r.source.path:
            yield ("releases", i, "source", "path"), r.source.path, f"chart of {r.name}"
        for j, f in enumerate(r.values_files):
            yield ("releases", i, "values_files", j), f, f"values file of {r.name}"
    for i, iss in enumerate(spec.cert_manager.issuers):
        if iss.acme and iss.acme.ca_bundle_file:
            yield (("cert_manager", "issuers", i, "acme", "ca_bundle_file"),
                   iss.acme.ca_bundle_file, f"CA bundle of issuer {iss.name}")


def files_exist(spec: ClusterSpec) -> Iterator[Problem]:
    """Files the spec points at. Kept apart: `kubeforge lab up` creates the lab's SSH files."""
    for loc, path, what in _files(spec):
        folder = loc[-1] == "path"  # a local chart is a folder, everything else a file
        if path.exists() and path.is_dir() != folder:
            yield Problem(loc, f"{what} {path} is {'a file' if folder else 'a folder'}",
                          f"point it at the {'chart folder' if folder else 'file itself'}")
        if loc[-2] == "values_files" and path.is_file():
            try:
                addons.values_file(path)
            except KubeforgeError as exc:
                yield Problem(loc, f"{what}: {exc}", "fix the file: Helm reads it as the "
                              "chart's values")
        if not path.exists():
            hint = ("run `kubeforge lab up` first, it creates the lab's SSH key and known_hosts"
                    if spec.lab and loc[0] == "ssh" else
                    paths.MIRROR_BUILD_HINT if loc[-1] == "checksums_file"
                    or paths.in_mirror(path) else
                    "fix the path (relative paths start at the spec file's folder)")
            yield Problem(loc, f"{what} {path} does not exist", hint)


def check(spec: ClusterSpec, check_files: bool = True) -> list[Problem]:
    rules = RULES + ((files_exist,) if check_files else ())
    return [p for rule in rules for p in rule(spec)]

"""Values checked the way the system that consumes them will check them, so that a value the spec
accepts is never refused later on a host in the middle of a deploy. Each check returns why a value
is refused, or None."""

from __future__ import annotations

import re
from ipaddress import IPv4Network

IFNAMSIZ = 16  # the kernel's limit, with the terminating NUL
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# Labels under kubernetes.io / k8s.io a kubelet may set on its own Node (NodeRestriction
# admission); any other label under those domains is refused when the node registers.
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
})
KUBELET_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")

# Ports kubeadm's control plane and kubelet hold on every node, or on control-plane nodes.
KUBERNETES_PORTS = {2379: "etcd clients", 2380: "etcd peers", 10250: "the kubelet",
                    10256: "kube-proxy's health check", 10257: "kube-controller-manager",
                    10259: "kube-scheduler"}

# kube-apiserver: "specified --service-cluster-ip-range is too large" beyond 20 host bits
SERVICE_CIDR_MIN_PREFIX = 12
# the kubernetes Service takes the first address and CoreDNS the tenth
SERVICE_CIDR_MAX_PREFIX = 28
# kube-controller-manager hands each node a /24 of the pod network (--node-cidr-mask-size)
NODE_POD_PREFIX = 24


def interface_name(name: str) -> str | None:
    """Linux's rule for a network interface name (dev_valid_name)."""
    if not name or len(name.encode()) >= IFNAMSIZ:
        return f"is {len(name.encode())} bytes; Linux interface names have 1 to {IFNAMSIZ - 1}"
    if name in (".", ".."):
        return "is not an interface name"
    if any(c in "/:" or c.isspace() for c in name):
        return "holds a '/', ':' or whitespace, which Linux interface names cannot"
    return None


def label_key(key: str) -> str | None:
    """A Kubernetes label key ([prefix/]name), and one a kubelet may set on its own node."""
    prefix, slash, name = key.rpartition("/")
    if not _LABEL_NAME.fullmatch(name):
        return ("has a name part that is not 1-63 letters, digits, '-', '_' or '.' starting and "
                "ending with a letter or digit")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return "has a prefix that is not a DNS subdomain (lowercase, e.g. example.com/)"
    domain = prefix.split(".")
    restricted = prefix and (prefix in ("kubernetes.io", "k8s.io")
                             or domain[-2:] in (["kubernetes", "io"], ["k8s", "io"]))
    if restricted and key not in KUBELET_LABELS and not key.startswith(KUBELET_PREFIXES):
        return ("is under kubernetes.io or k8s.io, which a kubelet may not set on its node "
                "(NodeRestriction); use your own prefix, or node.kubernetes.io/")
    return None


def label_value(value: str) -> str | None:
    if value and not _LABEL_NAME.fullmatch(value):
        return ("is not 0-63 letters, digits, '-', '_' or '.' starting and ending with a letter "
                "or digit")
    return None


def service_cidr(net: IPv4Network) -> str | None:
    if net.prefixlen < SERVICE_CIDR_MIN_PREFIX:
        return (f"is larger than kube-apiserver accepts (at most a /{SERVICE_CIDR_MIN_PREFIX} "
                "for IPv4)")
    if net.prefixlen > SERVICE_CIDR_MAX_PREFIX:
        return (f"is too small: the kubernetes Service and CoreDNS need its 1st and 10th "
                f"addresses and Services need room (at least a /{SERVICE_CIDR_MAX_PREFIX})")
    return None


def pod_cidr(net: IPv4Network, nodes: int) -> str | None:
    if net.prefixlen > NODE_POD_PREFIX:
        return (f"is smaller than the /{NODE_POD_PREFIX} each node gets from it "
                "(kube-controller-manager's --node-cidr-mask-size)")
    room = 2 ** (NODE_POD_PREFIX - net.prefixlen)
    if room < nodes:
        return (f"holds {room} node ranges of /{NODE_POD_PREFIX} for {nodes} nodes: pods on the "
                "others would get no addresses")
    return None

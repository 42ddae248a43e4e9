"""The raw lower bound: the bare commands that build the same cluster, with no checks at all.

It reads the inventory `kubeforge render` wrote for the spec (same hosts, same mirror, same
artifacts and images) and does the same work as `kubeforge deploy` with add-ons off, as parallel as
kubeadm allows:

  prepare (every node at once): OS packages from the apt mirror, kernel settings, the binaries
      (containerd, runc, CNI plugins, crictl, flannel CNI plugin, kubeadm/kubelet/kubectl) fetched
      in parallel and checked against their sha256, containerd configured and started, the kubelet
      unit; on control-plane nodes haproxy + keepalived for the VIP.
  init: kubeadm init on the first control-plane node (certificates uploaded at once), then the
      Flannel manifest (rendered from the cni role's template) applied straight away.
  join: the other control-plane nodes one at a time (etcd grows one learner at a time) while every
      worker joins in parallel.
  ready: every node Ready and the Flannel DaemonSet rolled out.

No idempotence: it expects bare machines (`kubeforge lab down` + `lab up` of the bench lab).
`python -m bench.raw SPEC [--join HOST ...]`: the whole build, or only prepare + join of the named
hosts on a running cluster (the raw cost of adding nodes).
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    control_plane: bool


@dataclass
class Plan:
    nodes: list[Node]
    key: str
    known_hosts: str
    vars: dict[str, Any]

    @property
    def control_plane(self) -> list[Node]:
        return [n for n in self.nodes if n.control_plane]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if not n.control_plane]


def load(inventory: Path) -> Plan:
    """The hosts and the rendered variables of an inventory folder (`kubeforge render` output)."""
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]["cluster"]
    nodes: list[Node] = []
    key = known = ""
    for group in ("control_plane", "workers"):
        for name, hv in (hosts["children"].get(group, {}).get("hosts") or {}).items():
            nodes.append(Node(name, hv["ansible_host"], group == "control_plane"))
            key = hv["ansible_ssh_private_key_file"]
            known = hv["ansible_ssh_common_args"].split("UserKnownHostsFile=")[1].split()[0]
    rendered = yaml.safe_load((inventory / "group_vars" / "all" / "kubeforge.yml").read_text())
    return Plan(nodes, key, known, rendered)


def ssh(plan: Plan, node: Node, script: str, check: bool = True) -> str:
    """Run a bash script on a node (one ssh session); returns its stdout."""
    cmd = ["ssh", "-i", plan.key, "-o", f"UserKnownHostsFile={plan.known_hosts}",
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{node.address}",
           "bash -s"]
    proc = subprocess.run(cmd, input="set -euo pipefail\n" + script, text=True,
                          capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{node.name}: rc {proc.returncode}\n{proc.stderr[-3000:]}")
    return proc.stdout


def _file(path: str, content: str, mode: str = "0644") -> str:
    marker = "KUBEFORGE_RAW_EOF"
    return (f"mkdir -p {shlex.quote(str(Path(path).parent))}\n"
            f"cat > {shlex.quote(path)} <<'{marker}'\n{content.rstrip()}\n{marker}\n"
            f"chmod {mode} {shlex.quote(path)}\n")


def _packages(node: Node, v: dict[str, Any]) -> list[str]:
    pkgs = ["conntrack", "socat", "iptables", "ethtool", "ca-certificates", "curl"]
    if node.control_plane:
        pkgs += ["haproxy", "keepalived", "python3-yaml"]
    return pkgs


def prepare_script(plan: Plan, node: Node) -> str:
    v = plan.vars
    art = v["kubeforge_artifacts"]
    parts: list[str] = []
    # names
    hosts = "\n".join(f"{n.address} {n.name}" for n in plan.nodes)
    parts.append(f"hostnamectl set-hostname {node.name}\n"
                 f"printf '%s\\n' {shlex.quote(hosts)} >> /etc/hosts\n")
    # packages from the mirror only
    parts.append(_file("/etc/apt/kubeforge/sources.list",
                       f"deb [trusted=yes] {v['kubeforge_apt_mirror']} ./"))
    parts.append(_file("/etc/apt/kubeforge/apt.conf",
                       'Dir::Etc::SourceList "/etc/apt/kubeforge/sources.list";\n'
                       'Dir::Etc::SourceParts "/etc/apt/kubeforge/none.d";'))
    # downloads start first and run while apt works
    cache = "/var/cache/kubeforge"
    names = ["containerd", "runc", "cni_plugins", "crictl", "flannel_cni_plugin"]
    bins = ["kubeadm", "kubelet", "kubectl"]
    parts.append(f"mkdir -p {cache} /opt/cni/bin /usr/local/sbin\n")
    for n in names:
        parts.append(f"curl -fsS -o {cache}/{Path(art[n]['url']).name} {art[n]['url']} &\n")
    for b in bins:
        parts.append(f"curl -fsS -o /usr/local/bin/{b} {art[b]['url']} &\n")
    parts.append("export APT_CONFIG=/etc/apt/kubeforge/apt.conf DEBIAN_FRONTEND=noninteractive\n"
                 "apt-get update -qq >/dev/null\n"
                 f"apt-get install -y -qq --no-install-recommends {' '.join(_packages(node, v))}"
                 " >/dev/null\n")
    # kernel
    sysctls = {"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1,
               "net.bridge.bridge-nf-call-ip6tables": 1, "fs.inotify.max_user_instances": 8192,
               "fs.inotify.max_user_watches": 524288}
    if node.control_plane:
        sysctls["net.ipv4.ip_nonlocal_bind"] = 1
    parts.append(_file("/etc/sysctl.d/90-kubeforge.conf",
                       "\n".join(f"{k} = {val}" for k, val in sysctls.items())))
    parts.append("sysctl -q -p /etc/sysctl.d/90-kubeforge.conf\n")
    parts.append("wait\n")
    sums = "\n".join([f"{art[n]['sha256']}  {cache}/{Path(art[n]['url']).name}" for n in names]
                     + [f"{art[b]['sha256']}  /usr/local/bin/{b}" for b in bins])
    parts.append(f"sha256sum --quiet -c - <<'EOF'\n{sums}\nEOF\n")
    parts.append(
        f"tar -C /usr/local -xzf {cache}/{Path(art['containerd']['url']).name}\n"
        f"install -m 0755 {cache}/{Path(art['runc']['url']).name} /usr/local/sbin/runc\n"
        f"tar -C /opt/cni/bin -xzf {cache}/{Path(art['cni_plugins']['url']).name}\n"
        f"tar -C /usr/local/bin -xzf {cache}/{Path(art['crictl']['url']).name}\n"
        f"tar -C /tmp -xzf {cache}/{Path(art['flannel_cni_plugin']['url']).name}\n"
        "install -m 0755 /tmp/flannel-amd64 /opt/cni/bin/flannel\n"
        "chmod 0755 /usr/local/bin/kubeadm /usr/local/bin/kubelet /usr/local/bin/kubectl\n")
    # containerd
    cgroup_systemd = str(v["kubeforge_cgroup_driver"] == "systemd").lower()
    parts.append(_file("/etc/containerd/config.toml", f"""version = 3
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '{v['kubeforge_images']['pause']}'
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '/etc/containerd/certs.d'
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = {str(v['kubeforge_in_container']).lower()}
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = '/usr/local/sbin/runc'
  SystemdCgroup = {cgroup_systemd}
[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ['/opt/cni/bin']
  conf_dir = '/etc/cni/net.d'"""))
    for registry, mirrors in v["kubeforge_registry_mirrors"].items():
        server = "registry-1.docker.io" if registry == "docker.io" else registry
        body = f'server = "https://{server}"\n' + "".join(
            f'[host."{m}"]\n  capabilities = ["pull", "resolve"]\n' for m in mirrors)
        parts.append(_file(f"/etc/containerd/certs.d/{registry}/hosts.toml", body))
    parts.append(_file("/etc/crictl.yaml",
                       "runtime-endpoint: unix:///run/containerd/containerd.sock\n"
                       "image-endpoint: unix:///run/containerd/containerd.sock\ntimeout: 10"))
    parts.append(_file("/etc/systemd/system/containerd.service", """[Unit]
Description=containerd container runtime
After=network.target local-fs.target
[Service]
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999
[Install]
WantedBy=multi-user.target"""))
    # kubelet
    parts.append(_file("/etc/systemd/system/kubelet.service", """[Unit]
Description=kubelet
Wants=network-online.target containerd.service
After=network-online.target containerd.service
[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=5
[Install]
WantedBy=multi-user.target"""))
    parts.append(_file(
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "[Service]\n"
        'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/'
        'bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"\n'
        'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"\n'
        "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"
        "ExecStart=\n"
        "ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS"
        " $KUBELET_KUBEADM_ARGS"))
    parts.append("mkdir -p /etc/kubernetes/manifests /var/lib/kubelet\n"
                 "systemctl daemon-reload\nsystemctl enable -q --now containerd\n"
                 "systemctl enable -q kubelet\n")
    if node.control_plane:
        parts.append(lb_script(plan, node))
    return "".join(parts)


def lb_script(plan: Plan, node: Node) -> str:
    ep = plan.vars["kubeforge_control_plane_endpoint"]
    servers = "".join(f"    server {n.name} {n.address}:6443 check\n" for n in plan.control_plane)
    haproxy = f"""global
    maxconn 4000
    daemon
defaults
    mode tcp
    timeout connect 2s
    timeout check 2s
    timeout client 1h
    timeout server 1h
    retries 3
    option redispatch 1
frontend kube-apiserver
    bind {ep['address']}:{ep['port']}
    default_backend kube-apiserver
backend kube-apiserver
    option httpchk
    http-check connect ssl
    http-check send meth GET uri /readyz
    http-check expect status 200
    balance roundrobin
    default-server inter 2s fall 2 rise 2 check-ssl verify none
{servers}"""
    peers = "".join(f"        {n.address}\n" for n in plan.control_plane if n != node)
    priority = 150 - plan.control_plane.index(node) * 10
    keepalived = f"""global_defs {{
    router_id {node.name}
    enable_script_security
    script_user root
}}
vrrp_script haproxy_alive {{
    script "/usr/bin/pgrep -x haproxy"
    interval 2
    fall 2
    rise 2
}}
vrrp_instance kube_apiserver {{
    state BACKUP
    interface {ep['interface'] or 'eth0'}
    virtual_router_id {ep['virtual_router_id']}
    priority {priority}
    advert_int 1
    unicast_src_ip {node.address}
    unicast_peer {{
{peers}    }}
    virtual_ipaddress {{
        {ep['address']}
    }}
    track_script {{
        haproxy_alive
    }}
}}"""
    return (_file("/etc/haproxy/haproxy.cfg", haproxy) + _file("/etc/keepalived/keepalived.conf",
            keepalived) + "systemctl restart haproxy keepalived\n")


def _registration(node: Node, cgroup_v1: bool) -> str:
    # the same preflight exceptions as kubeforge: the VIP's port, and cgroup v1 lab hosts
    ignore = (["Port-6443"] if node.control_plane else []) + (
        ["SystemVerification"] if cgroup_v1 else [])
    return f"""nodeRegistration:
  name: {node.name}
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
    - {{name: node-ip, value: "{node.address}"}}
  ignorePreflightErrors: {json.dumps(ignore)}"""


def _patch(node: Node) -> str:
    return _file("/etc/kubernetes/kubeadm/patches/kube-apiserver0+json.yaml",
                 f"- op: add\n  path: /spec/containers/0/command/-\n"
                 f"  value: --bind-address={node.address}", "0600")


def init_script(plan: Plan, node: Node, token: str, cert_key: str) -> str:
    v = plan.vars
    net = v["kubeforge_network"]
    ep = v["kubeforge_control_plane_endpoint"]
    conntrack = "conntrack:\n  maxPerCore: 0\n" if v["kubeforge_in_container"] else ""
    config = f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - token: {token}
    ttl: 15m0s
certificateKey: {cert_key}
localAPIEndpoint:
  advertiseAddress: {node.address}
  bindPort: 6443
{_registration(node, plan.vars["kubeforge_cgroup_v1"])}
patches:
  directory: /etc/kubernetes/kubeadm/patches
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: {v['kubeforge_cluster_name']}
kubernetesVersion: v{v['kubeforge_kubernetes_version']}
controlPlaneEndpoint: {ep['target']}
networking:
  podSubnet: {net['pod_cidr']}
  serviceSubnet: {net['service_cidr']}
  dnsDomain: {net['dns_domain']}
apiServer:
  certSANs: ["{ep['address']}"]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: {v['kubeforge_cgroup_driver']}
{"failCgroupV1: false" if v["kubeforge_cgroup_v1"] else ""}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
{conntrack}"""
    return (_patch(node) + _file("/etc/kubernetes/kubeadm/kubeadm-init.yaml", config, "0600")
            + "kubeadm init --config /etc/kubernetes/kubeadm/kubeadm-init.yaml --upload-certs"
              " --skip-token-print --skip-certificate-key-print >/dev/null\n"
            # the discovery hash of the cluster CA, for the joins
            "openssl x509 -pubkey -in /etc/kubernetes/pki/ca.crt"
            " | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1\n")


def flannel_manifest(plan: Plan) -> str:
    v = plan.vars
    cni = v["kubeforge_cni_plugin"]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(cni["dir"]), keep_trailing_newline=True)
    env.filters["combine"] = lambda a, b: {**a, **b}
    env.filters["to_json"] = json.dumps
    return env.get_template("manifest.yaml.j2").render(
        ansible_managed="bench/raw.py", cni_pod_cidr=v["kubeforge_network"]["pod_cidr"],
        cni_options=cni["options"], cni_images=cni["images"], cni_interface="",
        cni_apiserver_endpoint=v["kubeforge_control_plane_endpoint"]["target"])


def join_script(plan: Plan, node: Node, token: str, ca_hash: str, cert_key: str) -> str:
    ep = plan.vars["kubeforge_control_plane_endpoint"]
    control = (f"controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: {node.address}\n"
               f"    bindPort: 6443\n  certificateKey: {cert_key}\n") if node.control_plane else ""
    patches = "patches:\n  directory: /etc/kubernetes/kubeadm/patches\n" \
        if node.control_plane else ""  # fmt: skip
    config = f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {ep['target']}
    token: {token}
    caCertHashes: ["sha256:{ca_hash}"]
{control}{_registration(node, plan.vars["kubeforge_cgroup_v1"])}
{patches}"""
    return ((_patch(node) if node.control_plane else "")
            + _file("/etc/kubernetes/kubeadm/kubeadm-join.yaml", config, "0600")
            + (JOIN_WORKER if not node.control_plane else JOIN_ONCE))


# kubeforge's _background_joins (playbooks/join.yml)
BACKGROUND_JOINS = 16
JOIN_ONCE = "kubeadm join --config /etc/kubernetes/kubeadm/kubeadm-join.yaml >/dev/null\n"
# as kubeforge's kubeadm_join role: a worker's failed join is reset and tried again (3 tries)
JOIN_WORKER = """for try in 1 2 3; do
  if [ $try -gt 1 ]; then kubeadm reset -f >/dev/null 2>&1; sleep $(((try - 1) * 30)); fi
  kubeadm join --config /etc/kubernetes/kubeadm/kubeadm-join.yaml >/dev/null && break
  [ $try -lt 3 ] || exit 1
done
"""


def _token() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    pick = "".join(secrets.choice(alphabet) for _ in range(22))
    return f"{pick[:6]}.{pick[6:]}"


def _parallel(fn: Callable[[Node], Any], nodes: Sequence[Node]) -> list[Any]:
    if not nodes:
        return []
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        return list(pool.map(fn, nodes))


def wait_ready(plan: Plan, first: Node, count: int, timeout: int = 600) -> None:
    """Every node Ready and flannel rolled out, judged on the first control-plane node."""
    ssh(plan, first, f"""export KUBECONFIG=/etc/kubernetes/admin.conf
end=$((SECONDS + {timeout}))
until [ "$(kubectl get nodes --no-headers 2>/dev/null | wc -l)" -ge {count} ]; do
  [ $SECONDS -lt $end ] || exit 1; sleep 1; done
kubectl wait --for=condition=Ready node --all --timeout={timeout}s >/dev/null
kubectl -n kube-flannel rollout status daemonset/kube-flannel-ds --timeout={timeout}s >/dev/null
""")


def build(plan: Plan, out: Callable[[str], None] = print) -> dict[str, float]:
    """Bare machines -> Ready cluster; returns seconds per phase and in all."""
    times: dict[str, float] = {}
    t0 = time.monotonic()

    def phase(name: str, started: float) -> None:
        times[name] = round(time.monotonic() - started, 1)
        out(f"[raw] {name}: {times[name]}s")

    started = time.monotonic()
    _parallel(lambda n: ssh(plan, n, prepare_script(plan, n)), plan.nodes)
    phase("prepare", started)

    first, *others = plan.control_plane
    token, cert_key = _token(), secrets.token_hex(32)
    started = time.monotonic()
    ca_hash = ssh(plan, first, init_script(plan, first, token, cert_key)).strip()
    ssh(plan, first, _file("/etc/kubernetes/kubeadm/flannel.yaml", flannel_manifest(plan))
        + "kubectl --kubeconfig /etc/kubernetes/admin.conf apply --server-side"
          " -f /etc/kubernetes/kubeadm/flannel.yaml >/dev/null\n")
    phase("init", started)

    started = time.monotonic()

    def join(node: Node) -> None:
        ssh(plan, node, join_script(plan, node, token, ca_hash, cert_key))

    def control_plane_joins() -> None:
        for node in others:  # etcd grows one learner at a time
            join(node)

    # as kubeforge does (playbooks/join.yml): at most BACKGROUND_JOINS workers join while the
    # control-plane nodes do, the others after
    during, after = plan.workers[:BACKGROUND_JOINS], plan.workers[BACKGROUND_JOINS:]
    with ThreadPoolExecutor(max_workers=1 + len(during)) as pool:
        futures = [pool.submit(control_plane_joins)] + [pool.submit(join, w) for w in during]
        for f in futures:
            f.result()
    _parallel(join, after)
    phase("join", started)

    started = time.monotonic()
    wait_ready(plan, first, len(plan.nodes))
    phase("ready", started)
    times["total"] = round(time.monotonic() - t0, 1)
    return times


def add(plan: Plan, names: Sequence[str], out: Callable[[str], None] = print) -> dict[str, float]:
    """Prepare and join the named workers on a running cluster."""
    times: dict[str, float] = {}
    t0 = time.monotonic()
    first = plan.control_plane[0]
    new = [n for n in plan.nodes if n.name in names]
    line = ssh(plan, first, "kubeadm token create --ttl 15m --print-join-command")
    token = line.split("--token ")[1].split()[0]
    ca_hash = line.split("sha256:")[1].split()[0]
    started = time.monotonic()
    _parallel(lambda n: ssh(plan, n, prepare_script(plan, n)), new)
    times["prepare"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    _parallel(lambda n: ssh(plan, n, join_script(plan, n, token, ca_hash, "")), new)
    times["join"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    wait_ready(plan, first, len(plan.nodes))
    times["ready"] = round(time.monotonic() - started, 1)
    times["total"] = round(time.monotonic() - t0, 1)
    out(f"[raw] add {','.join(names)}: {times}")
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.raw", description=__doc__.split("\n")[0])
    parser.add_argument("inventory", type=Path, help="folder with hosts.yml (kubeforge render)")
    parser.add_argument("--join", nargs="*", default=None, help="only add these workers")
    args = parser.parse_args(argv)
    plan = load(args.inventory)
    times = add(plan, args.join) if args.join else build(plan)
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())

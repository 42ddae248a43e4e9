"""The cluster spec: typed pydantic models, one YAML file per environment.

Structure and types live here; rules that relate several fields (quorum, overlaps, skew) live in
`rules.py` so that every problem in a file is reported at once, not just the first.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, create_model, field_validator

from kubeforge import paths, versions
from kubeforge.cni import PLUGINS
from kubeforge.fieldtypes import STRICT, Port

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
VERSION = r"^v?\d+\.\d+\.\d+$"

Role = Literal["control_plane", "worker"]
Name = Annotated[str, Field(pattern=DNS_LABEL, description="A DNS-1123 label: a-z, 0-9 and '-'")]


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Expand ~ and ${KUBEFORGE_CACHE}; relative paths are relative to the spec file."""
    text = str(value).replace("${KUBEFORGE_CACHE}", str(paths.cache_dir()))
    path = Path(text).expanduser()
    base = (info.context or {}).get("base_dir")
    return path if path.is_absolute() or base is None else Path(base) / path


SpecPath = Annotated[Path, AfterValidator(_resolve_path)]


class Model(BaseModel):
    """Base: unknown keys are errors (a typo must never be silently ignored)."""

    model_config = STRICT



def _strip_v(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value.startswith("v") else value


class SSH(Model):
    """How Ansible reaches the hosts. Paths may use ~ and ${KUBEFORGE_CACHE}."""

    user: str = "root"
    port: Port = 22
    key: SpecPath | None = Field(None, description="Private key file; None uses the SSH agent")
    known_hosts: SpecPath | None = Field(
        None, description="known_hosts file that holds the hosts' keys (host keys are checked)"
    )


class HostSSH(Model):
    """Per-host overrides of the cluster-wide `ssh` section."""

    user: str | None = None
    port: Port | None = None
    key: SpecPath | None = None


class Host(Model):
    name: Name
    address: IPv4Address
    roles: list[Role] = Field(min_length=1)
    ssh: HostSSH = HostSSH()
    kubelet_version: Annotated[str, Field(pattern=VERSION)] | None = Field(
        None, description="Pin this node's kubelet (staged upgrades); defaults to the cluster's"
    )
    labels: dict[str, str] = {}

    _v = field_validator("kubelet_version", mode="before")(_strip_v)

    @property
    def is_control_plane(self) -> bool:
        return "control_plane" in self.roles

    @property
    def is_worker(self) -> bool:
        return "worker" in self.roles


class Kubernetes(Model):
    version: Annotated[str, Field(pattern=VERSION)] = versions.DEFAULT_KUBERNETES
    cgroup_driver: Literal["systemd", "cgroupfs"] = Field(
        "systemd", description="kubelet and containerd cgroup driver; cgroupfs where systemd "
        "does not own the cgroup tree (containers such as the lab machines)")
    cgroup_v1: bool = Field(
        False, description="The hosts boot with cgroup v1 (kubelet >= 1.35 refuses it unless told "
        "to; upstream is removing cgroup v1 support): kubelet failCgroupV1: false and kubeadm's "
        "SystemVerification preflight as a warning. Leave it off on hosts with cgroup v2")
    in_container: bool = Field(
        False, description="The hosts are containers (LXC, systemd-nspawn): no negative OOM scores "
        "for pods and the host keeps the kernel's conntrack table size")
    kubeadm_timeout_scale: Annotated[int, Field(ge=1, le=20)] = Field(
        1, description="Multiply kubeadm's own timeouts (control-plane health 4m, API calls 1m, "
        "...) and the VIP's haproxy health check (2 s) for slow hosts, such as emulated VMs: "
        "kubeadm init fails, and haproxy takes a kube-apiserver out, when it answers later than "
        "they allow")

    _v = field_validator("version", mode="before")(_strip_v)

    @property
    def release(self) -> versions.Release:
        return versions.RELEASES[self.version]


class Endpoint(Model):
    """The stable control-plane address (kubeadm's controlPlaneEndpoint)."""

    mode: Literal["vip", "kube-vip", "external"] = "vip"
    address: IPv4Address | None = Field(None, description="The VIP (modes vip and kube-vip)")
    interface: str | None = Field(None, description="NIC that carries the VIP (vip, kube-vip)")
    host: str | None = Field(None, description="Load balancer DNS name or address (external)")
    port: Port = 6443
    virtual_router_id: Annotated[int, Field(ge=1, le=255)] = 51

    @property
    def target(self) -> str:
        """`host:port` as kubeadm and kubeconfigs use it."""
        return f"{self.host if self.mode == 'external' else self.address}:{self.port}"


class Network(Model):
    node_cidr: IPv4Network = Field(description="The subnet the hosts' addresses are in")
    pod_cidr: IPv4Network = IPv4Network("10.244.0.0/16")
    service_cidr: IPv4Network = IPv4Network("10.96.0.0/12")
    dns_domain: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")] = (
        "cluster.local"
    )


class CNIBase(Model):
    """cni.plugin names one of kubeforge.cni.PLUGINS; cni.<name> holds that plugin's options
    (the fields are made from the registry below)."""

    plugin: str = "flannel"

    def chosen(self) -> Any:
        """The chosen plugin's options (None: its defaults)."""
        return getattr(self, self.plugin)


if TYPE_CHECKING:
    CNI = CNIBase
else:
    CNI = create_model(
        "CNI", __base__=CNIBase,
        plugin=(Literal[tuple(PLUGINS)], "flannel"),
        **{name: (p.options | None, None) for name, p in PLUGINS.items()},
    )


class Ingress(Model):
    controller: Literal["traefik", "none"] = "traefik"
    version: str | None = Field(
        None, pattern=r"^v?3\.\d+\.\d+$",
        description="Traefik version (3.x), the image kubeforge's Traefik chart runs; default "
                    "pinned by kubeforge. Traefik's own chart: controller none, and a release")
    gateway_api: bool = True
    values: dict[str, Any] = {}


class Acme(Model):
    server: str = Field(pattern=r"^https?://")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    ingress_class: str = "traefik"
    ca_bundle_file: SpecPath | None = Field(None, description="CA of a private ACME server (tests)")


class Issuer(Model):
    name: Name
    type: Literal["selfsigned_ca", "acme"]
    acme: Acme | None = None


class CertManager(Model):
    enabled: bool = True
    version: str | None = Field(None, pattern=r"^v?\d+\.\d+\.\d+$",
                                description="cert-manager release; default pinned by kubeforge")
    issuers: list[Issuer] = []


class ChartSource(Model):
    """Exactly one of repo (https chart repository), oci (oci://...) or path (local chart)."""

    repo: str | None = Field(None, pattern=r"^https?://")
    oci: str | None = Field(None, pattern=r"^oci://")
    path: SpecPath | None = None
    plain_http: bool = Field(False, description="The OCI registry speaks plain HTTP (a lab or "
                             "in-house mirror); never for registries on untrusted networks")


class Release(Model):
    """One Helm release; the ingress, cert-manager and CNI sections expand into these too."""

    name: Name
    namespace: Name = "default"
    chart: str
    version: str | None = Field(None, pattern=r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$",
                                description="Chart version, exact (MAJOR.MINOR.PATCH, as Helm "
                                "requires; required: no floating charts)")
    source: ChartSource
    values: dict[str, Any] = {}
    values_files: list[SpecPath] = []


class Mirrors(Model):
    """Where artifacts come from. Defaults are the official upstream locations."""

    binaries: str = Field(versions.UPSTREAM_BINARIES, pattern=r"^(https?|file)://")
    github: str = Field(versions.UPSTREAM_GITHUB, pattern=r"^(https?|file)://")
    helm: str = Field(versions.UPSTREAM_HELM, pattern=r"^(https?|file)://")
    images: dict[str, list[str]] = Field(
        {}, description="Registry host -> mirror endpoints (containerd hosts.toml)"
    )
    charts: str | None = Field(None, description="Chart repository that replaces every repo")
    apt: str | None = Field(None, description="Debian repository with the nodes' OS packages")
    checksums_file: SpecPath | None = Field(
        None, description="sha256 table for a self-built mirror ({artifact: {version: sha}})"
    )
    checksums: dict[str, dict[str, str]] = Field(
        {}, description="Extra pinned sha256 per artifact and version; wins over the others"
    )


class EtcdBackup(Model):
    """etcd snapshots (`kubeforge backup`, and a systemd timer when `schedule` is set). Each
    snapshot is kept on every control-plane node, so a restore works from any of them."""

    dir: Annotated[str, Field(pattern=r"^/[^\s]*$")] = Field(
        "/var/backups/kubeforge/etcd", description="Absolute folder on the control-plane nodes")
    retention: Annotated[int, Field(ge=1, le=1000)] = Field(
        7, description="Snapshots kept per folder (the newest); older ones are deleted")
    schedule: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="systemd OnCalendar expression of the snapshot timer (for example "
        "'daily' or '*-*-* 00/6:00:00'); null: no timer, snapshots only on `kubeforge backup`")
    fetch: bool = Field(
        True, description="Also copy each `kubeforge backup` snapshot to the control host "
        "(.cache/<name>/etcd-backups, same retention)")

    @field_validator("dir")
    @classmethod
    def _outside_cluster_state(cls, value: str) -> str:
        # the restore moves /var/lib/etcd aside: snapshots inside it would move with it
        path = "/" + value.strip("/")
        for owned in ("/var/lib/etcd", "/etc/kubernetes"):
            if path == "/" or path == owned or path.startswith(owned + "/"):
                raise ValueError(f"{value} is not a place for backups: use a folder of its own "
                                 "outside /var/lib/etcd and /etc/kubernetes")
        return path


class Upgrade(Model):
    """How `kubeforge upgrade` rolls the nodes over to a new `kubernetes.version`."""

    worker_batch: Annotated[int, Field(ge=1)] = Field(
        1, description="Workers drained and upgraded at the same time (control-plane nodes go "
        "one at a time); keep it below what the PodDisruptionBudgets allow")
    drain_timeout: Annotated[int, Field(ge=30, le=3600)] = Field(
        300, description="Seconds a drain may wait for evictions (PodDisruptionBudgets) before "
        "the upgrade stops with that node cordoned")


class Certificates(Model):
    """`kubeforge certs` and `kubeforge status`: when the kubeadm certificates count as expiring."""

    warn_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        30, description="Warn when a control-plane certificate expires within this many days "
        "(renew with `kubeforge certs ENV --renew`)")


class LabVM(Model):
    """The size of each lab VM (`lab.kind: vm`)."""

    cpus: Annotated[int, Field(ge=1, le=16)] = Field(
        2, description="Virtual CPUs per machine (QEMU threads; more than the host's cores only "
        "adds contention)")
    memory_mib: Annotated[int, Field(ge=1024, le=65536)] = Field(
        3072, description="Memory per machine in MiB (a control-plane node needs about 2 GiB)")


class Lab(Model):
    """Only for `kubeforge lab`: the host bridge the lab machines hang off, and what they are."""

    bridge: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,15}$")] = "kf-lab0"
    gateway: IPv4Address
    kind: Literal["container", "vm"] = Field(
        "container", description="container: systemd-nspawn machines sharing this host's kernel "
        "(fast); vm: QEMU virtual machines with their own Debian kernel (cgroup v2, modules, "
        "swap: what real hosts have; slow without KVM)")
    vm: LabVM = LabVM()


class ClusterSpec(Model):
    name: Name
    kubernetes: Kubernetes = Kubernetes()
    ssh: SSH = SSH()
    hosts: list[Host] = Field(min_length=1)
    control_plane_endpoint: Endpoint
    network: Network
    cni: CNI = CNI()
    ingress: Ingress = Ingress()
    cert_manager: CertManager = CertManager()
    releases: list[Release] = []
    mirrors: Mirrors = Mirrors()
    etcd_backup: EtcdBackup = EtcdBackup()
    upgrade: Upgrade = Upgrade()
    certificates: Certificates = Certificates()
    lab: Lab | None = None

    @property
    def control_plane(self) -> list[Host]:
        return [h for h in self.hosts if h.is_control_plane]

    @property
    def workers(self) -> list[Host]:
        return [h for h in self.hosts if h.is_worker]

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

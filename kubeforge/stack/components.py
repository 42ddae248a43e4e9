"""The cluster as three Pulumi components: Machines -> Bootstrap -> Addons.

Each is a ComponentResource whose children have `parent=self`; the stack program
(stacks/cluster/__main__.py) only loads the spec and wires them together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from kubeforge import addons, paths
from kubeforge.errors import KubeforgeError
from kubeforge.spec.models import ClusterSpec
from kubeforge.stack import triggers
from kubeforge.stack.manifests import manifest_files
from kubeforge.stack.providers import AnsibleBootstrap, LabMachines

PKG = "kubeforge:cluster"
# (namespace, name) of the ConfigMap that records the installed releases
RECORD = ("kube-system", "kubeforge-releases")


@dataclass(frozen=True)
class MachinesArgs:
    spec: ClusterSpec
    spec_path: Path


class Machines(pulumi.ComponentResource):
    """The hosts the cluster runs on.

    A spec with a `lab` section gets its machines from the lab, created and destroyed with the
    stack. Any other spec declares existing hosts: they are reported, never touched. Another
    machine source (libvirt, Proxmox) would be one more child here with the same outputs.
    """

    def __init__(self, name: str, args: MachinesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PKG}:Machines", name, None, opts)
        hosts = triggers.machines(args.spec)
        self.managed = args.spec.lab is not None
        # What the cluster's resources are deleted with: nothing is uninstalled or reset one by
        # one on machines that are about to disappear (Pulumi's deleted_with).
        self.resource: pulumi.Resource | None = None
        self.machines_id: pulumi.Output[str]
        if args.spec.lab is not None:
            lab = LabMachines(f"{name}-lab", {
                "env": str(args.spec_path), "name": args.spec.name, "machines": hosts,
                "lab": args.spec.lab.model_dump(mode="json"),
            }, pulumi.ResourceOptions(parent=self))
            self.resource = lab
            self.machines_id = lab.id
        else:
            self.machines_id = pulumi.Output.from_input(args.spec.name)
        self.hosts: pulumi.Output[list[dict[str, str]]] = pulumi.Output.from_input(hosts)
        self.register_outputs({"hosts": self.hosts})


@dataclass(frozen=True)
class BootstrapArgs:
    spec: ClusterSpec
    spec_path: Path
    machines: Machines


class Bootstrap(pulumi.ComponentResource):
    """kubeadm via the Ansible roles; re-runs only when its triggers change (providers.py)."""

    def __init__(self, name: str, args: BootstrapArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PKG}:Bootstrap", name, None, opts)
        spec = args.spec
        run = AnsibleBootstrap(f"{name}-ansible", {
            "env": str(args.spec_path), "name": spec.name,
            "spec": triggers.spec_digest(spec), "roles": triggers.tree_digest(),
            "machines": args.machines.machines_id,
            "kubeconfig_path": str(paths.admin_kubeconfig(spec.name)),
            "reset_on_delete": not args.machines.managed,
        }, pulumi.ResourceOptions(parent=self, deleted_with=args.machines.resource))
        self.endpoint: pulumi.Output[str] = pulumi.Output.from_input(
            f"https://{spec.control_plane_endpoint.target}")
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(run.kubeconfig)
        self.register_outputs({"endpoint": self.endpoint, "kubeconfig": self.kubeconfig})


@dataclass(frozen=True)
class AddonsArgs:
    spec: ClusterSpec
    kubeconfig: pulumi.Input[str]
    # the machines resource, when the stack owns the machines (Machines.resource)
    deleted_with: pulumi.Resource | None = None


def release_args(r: addons.PlannedRelease) -> dict[str, Any]:
    """Keyword arguments of a helm.v3.Release for one planned release."""
    if r.plain_http:
        raise KubeforgeError(
            f"release {r.namespace}/{r.name}: pulumi-kubernetes cannot pull charts from a "
            "plain-HTTP OCI registry; serve the chart over HTTPS or from a chart repository, "
            "or install it with `kubeforge addons`")
    args: dict[str, Any] = {"name": r.name, "namespace": r.namespace, "create_namespace": True,
                            "values": r.values, "atomic": True, "cleanup_on_fail": True,
                            "timeout": 600}
    if r.path:
        args["chart"] = str(Path(r.path).resolve())
    elif r.oci:
        args["chart"] = f"{r.oci.rstrip('/')}/{r.chart}"
    else:
        args["chart"] = r.chart
        args["repository_opts"] = k8s.helm.v3.RepositoryOptsArgs(repo=r.repo)
    if r.version:
        args["version"] = r.version
    return args


class Addons(pulumi.ComponentResource):
    """The declared add-ons (kubeforge.addons, the list Ansible uses too), in order.

    The manifests (Gateway API CRDs) come first; each Helm release then depends on the one
    before it, as a release may need what the previous one installed (CRDs, webhooks).
    """

    def __init__(self, name: str, args: AddonsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PKG}:Addons", name, None, opts)
        mine = pulumi.ResourceOptions(parent=self, deleted_with=args.deleted_with)
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=args.kubeconfig, opts=mine)
        mine = pulumi.ResourceOptions.merge(mine, pulumi.ResourceOptions(provider=provider))
        previous: list[pulumi.Resource] = []
        for manifest, path in manifest_files(args.spec):
            previous = [k8s.yaml.v2.ConfigFile(
                f"{name}-{manifest}", file=str(path), opts=mine)]
        self.releases: dict[str, pulumi.Output[str | None]] = {}
        for planned in addons.expand(args.spec):
            release = k8s.helm.v3.Release(
                f"{name}-{planned.namespace}-{planned.name}", **release_args(planned),
                opts=pulumi.ResourceOptions.merge(mine, pulumi.ResourceOptions(
                    depends_on=previous)))
            previous = [release]
            self.releases[f"{planned.namespace}/{planned.name}"] = release.version
        # The record the Ansible role keeps too (roles/addons/tasks/record.yml): `kubeforge
        # addons` and `kubeforge verify` read which releases are declared from it.
        self.record = k8s.core.v1.ConfigMap(
            f"{name}-record",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=RECORD[1], namespace=RECORD[0],
                labels={"app.kubernetes.io/managed-by": "kubeforge"}),
            data={"releases": json.dumps(list(self.releases))},
            opts=pulumi.ResourceOptions.merge(mine, pulumi.ResourceOptions(depends_on=previous)))
        self.register_outputs({"releases": self.releases})


@dataclass(frozen=True)
class Cluster:
    machines: Machines
    bootstrap: Bootstrap
    addons: Addons


def declare(spec: ClusterSpec, spec_path: Path) -> Cluster:
    """The whole cluster of one spec, wired: what a stack program declares."""
    machines = Machines(spec.name, MachinesArgs(spec=spec, spec_path=spec_path))
    bootstrap = Bootstrap(spec.name, BootstrapArgs(spec=spec, spec_path=spec_path,
                                                   machines=machines))
    added = Addons(spec.name, AddonsArgs(spec=spec, kubeconfig=bootstrap.kubeconfig,
                                         deleted_with=machines.resource))
    return Cluster(machines, bootstrap, added)

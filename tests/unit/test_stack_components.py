"""The Pulumi components' wiring, with the engine mocked (pulumi.runtime.set_mocks).

The real `pulumi up -s lab` runs in the lab (tests/drills/test_pulumi_stack.py); these check what
the program declares: which resources, their parents, triggers, ordering and secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from kubeforge import addons
from kubeforge.errors import KubeforgeError
from kubeforge.spec import load_spec, spec_path
from kubeforge.stack import triggers


def pulumi_test(fn: Callable[..., Any]) -> Callable[..., Any]:
    """pulumi.runtime.test (untyped): runs the test and waits for its outputs."""
    wrapped: Callable[..., Any] = pulumi.runtime.test(fn)  # type: ignore[no-untyped-call]
    return wrapped


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.created: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.created.append(args)
        state = dict(args.inputs)
        if args.typ.startswith("pulumi-python:dynamic") and "reset_on_delete" in state:
            state["kubeconfig"] = "apiVersion: v1\nkind: Config\n"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


def _await(output: pulumi.Output[Any]) -> Any:
    fut: Any = None

    def grab(value: Any) -> None:
        nonlocal fut
        fut = value

    output.apply(grab)
    return lambda: fut


@pytest.fixture
def mocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lab_files: Path) -> Mocks:
    # lab_files: the spec reads files of the mirror (pebble's CA); the fake cache holds them
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="kubeforge-cluster", stack="lab", preview=False)
    # the manifests come from the mirror; a stand-in file keeps the test off the network
    fake = tmp_path / "gateway.yaml"
    fake.write_text("{}\n")
    monkeypatch.setattr("kubeforge.stack.components.manifest_files",
                        lambda spec: [(n, fake) for n in addons.manifests(spec)])
    return m


def _build(env: str) -> dict[str, Any]:
    from kubeforge.stack.components import declare

    spec = load_spec(env, check_files=False)
    cluster = declare(spec, spec_path(env))
    return {"spec": spec, "machines": cluster.machines, "bootstrap": cluster.bootstrap,
            "addons": cluster.addons}


def _by_name(m: Mocks) -> dict[str, pulumi.runtime.MockResourceArgs]:
    return {a.name: a for a in m.created}


@pulumi_test
def test_lab_stack_wires_machines_bootstrap_and_addons(mocks: Mocks) -> Any:
    built = _build("lab")
    spec = built["spec"]

    def check(_: Any) -> None:
        res = _by_name(mocks)
        lab = res[f"{spec.name}-lab"]
        assert lab.inputs["name"] == spec.name
        assert [h["name"] for h in lab.inputs["machines"]] == [h.name for h in spec.hosts]
        boot = res[f"{spec.name}-ansible"]
        # the bootstrap runs on the lab machines, re-runs on spec/role changes, keeps the
        # machines (they are destroyed with the stack)
        assert boot.inputs["machines"] == f"{spec.name}-lab-id"
        assert boot.inputs["spec"] == triggers.spec_digest(spec)
        assert boot.inputs["roles"] == triggers.tree_digest()
        assert boot.inputs["reset_on_delete"] is False
        releases = [a for a in mocks.created if a.typ == "kubernetes:helm.sh/v3:Release"]
        planned = addons.expand(spec)
        assert [r.inputs["name"] for r in releases] == [p.name for p in planned]
        first = next(i for i, p in enumerate(planned) if p.repo)  # from a chart repository
        assert releases[first].inputs["repositoryOpts"]["repo"] == planned[first].repo
        assert releases[first].inputs["version"] == planned[first].version
        assert any(a.typ == "kubernetes:yaml/v2:ConfigFile" for a in mocks.created)
        providers = [a for a in mocks.created if a.typ == "pulumi:providers:kubernetes"]
        assert len(providers) == 1

    return pulumi.Output.all(built["bootstrap"].endpoint,
                             *built["addons"].releases.values()).apply(check)


@pulumi_test
def test_kubeconfig_is_a_secret_output(mocks: Mocks) -> Any:
    built = _build("lab")
    kubeconfig = built["bootstrap"].kubeconfig

    def check(args: list[Any]) -> None:
        is_secret, value = args
        assert is_secret
        assert value.startswith("apiVersion: v1")

    return pulumi.Output.all(pulumi.Output.from_input(kubeconfig.is_secret()),
                             kubeconfig).apply(check)


@pulumi_test
def test_existing_hosts_are_reported_not_created(mocks: Mocks) -> Any:
    built = _build("example-prod")
    spec = built["spec"]

    def check(args: list[Any]) -> None:
        hosts = args[0]
        res = _by_name(mocks)
        assert f"{spec.name}-lab" not in res
        assert res[f"{spec.name}-ansible"].inputs["reset_on_delete"] is True
        assert [h["address"] for h in hosts] == [str(h.address) for h in spec.hosts]

    return pulumi.Output.all(built["machines"].hosts, built["bootstrap"].kubeconfig,
                             *built["addons"].releases.values()).apply(check)


def test_bootstrap_digest_ignores_addon_sections(lab_data: dict[str, Any],
                                                 write_spec: Any) -> None:
    base = triggers.spec_digest(load_spec(write_spec(lab_data), check_files=False))
    lab_data["ingress"] = {**lab_data.get("ingress", {}), "version": "3.99.0"}
    assert triggers.spec_digest(load_spec(write_spec(lab_data), check_files=False)) == base
    lab_data["network"] = {**lab_data["network"], "pod_cidr": "10.245.0.0/16"}
    assert triggers.spec_digest(load_spec(write_spec(lab_data), check_files=False)) != base


def test_plain_http_oci_release_is_refused_with_a_way_out() -> None:
    from kubeforge.stack.components import release_args

    planned = addons.PlannedRelease(name="demo", namespace="apps", chart="demo", version="1.0.0",
                                    oci="oci://10.0.0.1:5000/charts", plain_http=True)
    with pytest.raises(KubeforgeError, match="plain-HTTP OCI"):
        release_args(planned)


def test_local_chart_is_passed_by_absolute_path(tmp_path: Path) -> None:
    from kubeforge.stack.components import release_args

    planned = addons.PlannedRelease(name="echo", namespace="echo", chart="echo", version=None,
                                    path=str(tmp_path / "x" / ".." / "echo"))
    args = release_args(planned)
    assert args["chart"] == str(tmp_path / "echo")
    assert "version" not in args and "repository_opts" not in args


@pulumi_test
def test_release_record_matches_the_declared_list(mocks: Mocks) -> Any:
    built = _build("lab")
    spec = built["spec"]

    def check(_: Any) -> None:
        record = _by_name(mocks)[f"{spec.name}-record"]
        assert record.inputs["metadata"]["name"] == "kubeforge-releases"
        ids = [f"{p.namespace}/{p.name}" for p in addons.expand(spec)]
        assert record.inputs["data"]["releases"] == json.dumps(ids)

    return built["addons"].record.id.apply(check)

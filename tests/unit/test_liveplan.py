"""`kubeforge plan`: the callback's records of a check-mode run, the changes made of them, their
rendering for a person, the JSON shape for a program, and the exit code."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import load_path

from kubeforge import liveplan, paths


@pytest.fixture(scope="module")
def callback() -> ModuleType:
    return load_path("kubeforge_plan", paths.ROOT / "plugins" / "callback" / "kubeforge_plan.py")


def _rec(callback: ModuleType, result: dict[str, Any], *, role: str = "containerd",
         task: str = "Write the configuration", action: str = "kubeforge.cluster.files",
         no_log: bool = False) -> dict[str, Any]:
    entry = callback.record("w1", "Prepare the nodes", role, task, action, result, no_log)
    assert entry is not None
    return dict(entry)


def test_an_unchanged_result_is_not_recorded(callback: ModuleType) -> None:
    assert callback.record("w1", "p", "r", "t", "ansible.builtin.copy", {"changed": False},
                           False) is None
    # a probe reads; its pending steps show as the changes of the tasks after it
    assert callback.record("w1", "p", "r", "t", "kubeforge.cluster.probe",
                           {"changed": False, "pending": {"unit": True}}, False) is None


def test_a_file_change_keeps_its_paths_and_diffs(callback: ModuleType) -> None:
    entry = _rec(callback, {"changed": True, "changes": ["/etc/containerd/config.toml"],
                            "diff": [{"before_header": "/etc/containerd/config.toml",
                                      "after_header": "/etc/containerd/config.toml",
                                      "before": "a = 1\n", "after": "a = 2\n"}]})
    assert entry["paths"] == ["/etc/containerd/config.toml"]
    changes = liveplan.classify(entry)
    assert [(c.kind, c.what) for c in changes] == [("file", "/etc/containerd/config.toml")]
    assert "-a = 1" in changes[0].diff and "+a = 2" in changes[0].diff
    # Ansible's header may carry a note: still the same file, one change
    entry["diff"][0]["after_header"] += " (mode 0644)"
    assert [c.what for c in liveplan.classify(entry)] == ["/etc/containerd/config.toml"]


def test_a_no_log_result_keeps_no_content(callback: ModuleType) -> None:
    entry = _rec(callback, {"changed": True, "dest": "/etc/kubernetes/enc.yaml",
                            "diff": {"before": "", "after": "secret: c2VjcmV0"}}, no_log=True)
    assert entry == {"host": "w1", "play": "Prepare the nodes", "role": "containerd",
                     "task": "Write the configuration", "action": "kubeforge.cluster.files",
                     "changed": True, "hidden": True}
    (change,) = liveplan.classify(entry)
    assert change.hidden and change.diff == ""
    assert "content hidden" in liveplan.render(liveplan.Plan([change]))


def test_several_files_of_one_task_are_one_change_each(callback: ModuleType) -> None:
    a, b = "/etc/haproxy/haproxy.cfg", "/etc/keepalived/keepalived.conf"
    entry = _rec(callback, {"changed": True, "changes": [a, b], "diff": [
        {"before_header": a, "after_header": a, "before": "x\n", "after": "y\n"},
        {"before_header": b, "after_header": b, "before": "p\n", "after": "q\n"}]})
    changes = liveplan.classify(entry)
    assert [c.what for c in changes] == [a, b]
    scratch = dict(entry, paths=["/root/.ansible/tmp/ansible-local-1/tmpx/init.yaml.j2"], diff=[])
    assert liveplan.classify(scratch) == []
    assert "+y" in changes[0].diff and "+q" not in changes[0].diff
    assert "+q" in changes[1].diff


@pytest.mark.parametrize(("action", "role", "task", "kind"), [
    ("ansible.builtin.apt", "node_prep", "Install packages", "package"),
    ("kubeforge.cluster.artifacts", "kube_binaries", "Install kubelet", "binary"),
    ("ansible.builtin.systemd_service", "containerd", "Start containerd", "service"),
    ("ansible.builtin.raw", "kubeadm_join", "Join with a just-in-time token", "node"),
    ("ansible.builtin.raw", "kubeadm_control_plane", "Run kubeadm init", "kubeadm"),
    ("kubernetes.core.helm", "addons", "Helm release | ingress/traefik", "release"),
    ("ansible.builtin.command", "cni", "Apply the manifests", "command"),
])
def test_kinds(callback: ModuleType, action: str, role: str, task: str, kind: str) -> None:
    (change,) = liveplan.classify(_rec(callback, {"changed": True}, action=action, role=role,
                                       task=task))
    assert change.kind == kind and change.step == role


def test_secrets_in_a_diff_are_masked() -> None:
    text = liveplan.mask("+  password: hunter2\n+token: abcdef.0123456789abcdef\n"
                         "+ - secret: c2VjcmV0a2V5\n+join abcdef.0123456789abcdef now\n+port: 80")
    assert "hunter2" not in text and "0123456789abcdef" not in text and "c2VjcmV0" not in text
    assert "+port: 80" in text and "+  password: ***" in text


def test_nothing_to_do_exits_0_and_says_so() -> None:
    plan = liveplan.Plan()
    assert plan.exit_code == 0
    assert liveplan.render(plan) == "Plan: nothing to do."


def test_the_summary_counts_by_kind_and_host() -> None:
    c = liveplan.Change
    plan = liveplan.Plan([
        c("w3", "kubeadm_worker", "node", "Join"), c("w4", "kubeadm_worker", "node", "Join"),
        c("cp1", "containerd", "file", "/a"), c("w1", "containerd", "file", "/a"),
        c("w1", "containerd", "file", "/b"), c("cp1", "addons", "release", "Helm release | x"),
    ])
    assert plan.exit_code == 2
    assert plan.summary() == ("Plan: 2 nodes to join, 3 files to change on 2 hosts, "
                              "1 release to install or upgrade.")


def test_a_host_that_did_not_answer_makes_the_plan_incomplete() -> None:
    plan = liveplan.Plan(unreachable={"w2": "ssh: connect to host w2 port 22: No route"})
    assert plan.exit_code == 1
    text = liveplan.render(plan)
    assert "w2: did not answer" in text and "Incomplete: 1 host did not answer" in text


def test_render_groups_by_host_then_step() -> None:
    c = liveplan.Change
    plan = liveplan.Plan([c("w1", "containerd", "file", "/etc/containerd/config.toml", "+x"),
                          c("w1", "containerd", "service", "Restart containerd"),
                          c("cp1", "addons", "release", "Helm release | ingress/traefik")])
    lines = liveplan.render(plan).splitlines()
    assert lines[:4] == ["cp1:", "  addons:", "    Helm releases: Helm release | ingress/traefik",
                         "w1:"]
    assert lines[4:8] == ["  containerd:", "    files: /etc/containerd/config.toml", "      +x",
                          "    services: Restart containerd"]
    assert "      +x" not in liveplan.render(plan, diffs=False)


def test_the_json_shape(tmp_path: Path) -> None:
    data = {"changes": [{"host": "w1", "play": "p", "role": "containerd", "task": "t",
                         "action": "ansible.builtin.copy", "changed": True,
                         "paths": ["/etc/x"]}],
            "unreachable": {}, "failed": [], "outside": [], "notes": []}
    out = liveplan.as_json(liveplan.from_records(data))
    assert json.loads(json.dumps(out)) == {
        "exit_code": 2, "summary": "Plan: 1 file to change on 1 host.",
        "changes": [{"host": "w1", "step": "containerd", "kind": "file", "what": "/etc/x",
                     "diff": "", "hidden": False}],
        "unreachable": {}, "failed": [], "outside": [], "notes": []}


def test_nodes_and_members_outside_the_spec_are_drift(lab_files: Path) -> None:
    from kubeforge.spec import load_spec
    from kubeforge.status import Member, Node, Report

    spec = load_spec("lab")
    report = Report(
        nodes=[Node(h.name, True, "v1.37.2", ("<none>",)) for h in spec.hosts]
        + [Node("w9", True, "v1.37.2", ("<none>",))],
        members=[Member(h.name, f"https://{h.address}:2379", False, True)
                 for h in spec.control_plane] + [Member("old-cp", "https://10.0.0.9:2379",
                                                        False, False)])
    outside = liveplan.outside_spec(spec, report)
    assert len(outside) == 2
    assert outside[0].startswith("node w9: in the cluster, not in the spec")
    assert "kubeforge remove-node lab w9" in outside[0]
    assert outside[1].startswith("etcd member old-cp (https://10.0.0.9:2379)")
    plan = liveplan.Plan(outside=outside, notes=["x"])
    assert plan.exit_code == 2
    text = liveplan.render(plan)
    assert "outside the spec (a deploy leaves these alone):\n  node w9" in text
    assert text.endswith("Plan: 2 members of the cluster outside the spec.")
    in_spec = Report(nodes=report.nodes[:-1], members=report.members[:-1])
    assert liveplan.outside_spec(spec, in_spec) == []


def test_a_release_change_gets_its_values_diff_masked() -> None:
    from kubeforge.addons import PlannedRelease

    change = liveplan.Change("cp1", "addons", "release",
                             "Helm release | echo/echo local chart", hidden=True)
    assert liveplan.release_key(change) == ("echo", "echo")
    assert liveplan.release_key(liveplan.Change("cp1", "addons", "file", "/x")) is None
    release = PlannedRelease("echo", "echo", "echo", "0.1.0",
                             values={"replicas": 2, "auth": {"password": "hunter2"}})
    upgrade = liveplan.with_values(change, release, {"replicas": 3, "byhand": 1,
                                                     "auth": {"password": "hunter2"}})
    assert upgrade.what == "echo/echo: upgrade echo 0.1.0" and not upgrade.hidden
    assert "-byhand: 1" in upgrade.diff and "-replicas: 3" in upgrade.diff
    assert "+replicas: 2" in upgrade.diff and "hunter2" not in upgrade.diff
    install = liveplan.with_values(change, release, None)
    assert install.what == "echo/echo: install echo 0.1.0"
    assert "password: ***" in install.diff and "hunter2" not in install.diff


def test_on_bare_machines_what_follows_kubeadm_init_comes_from_the_spec(lab_files: Path) -> None:
    from kubeforge.addons import PlannedRelease
    from kubeforge.spec import load_spec

    spec = load_spec("lab")
    first = spec.control_plane[0].name
    init = liveplan.Change(first, "kubeadm_control_plane", "kubeadm", "Run kubeadm init")
    plan = liveplan.Plan([init])
    liveplan.after_init(plan, spec, [PlannedRelease("echo", "echo", "echo", "0.1.0")])
    joins = [c.host for c in plan.changes if c.kind == "node"]
    assert joins == [h.name for h in spec.hosts if h.name != first]
    assert plan.changes[-1].what == "echo/echo: install echo 0.1.0"
    assert "4 nodes to join" in plan.summary()
    converged = liveplan.Plan([liveplan.Change(first, "containerd", "file", "/etc/x")])
    liveplan.after_init(converged, spec, [])
    assert len(converged.changes) == 1  # a built cluster: nothing is added

"""kubeforge.cluster.node_facts: the facts parsed from its one shell command."""

from __future__ import annotations

from types import ModuleType

from conftest import action_plugin


def _action() -> ModuleType:
    return action_plugin("node_facts")


def test_facts_match_the_shape_setup_reports() -> None:
    out = ("hostname cp1.lab.example\nos debian \n"
           "route 8.8.8.8 via 10.240.0.1 dev eth0 src 10.240.0.11 uid 0\n"
           "mac eth0 02:49:3b:3f:5b:f8\nmac lo 00:00:00:00:00:00\n")
    assert _action().parse(out) == {
        "hostname": "cp1", "os_family": "Debian",
        "default_ipv4": {"gateway": "10.240.0.1", "interface": "eth0", "address": "10.240.0.11",
                         "macaddress": "02:49:3b:3f:5b:f8", "alias": "eth0"}}


def test_family_from_id_like_and_no_default_route() -> None:
    facts = _action().parse("hostname w1\nos rocky rhel centos fedora\nroute \n")
    assert facts["os_family"] == "RedHat"
    assert facts["default_ipv4"] == {}
    assert _action().parse("hostname w1\nos plan9 \n")["os_family"] == "Plan9"


def test_a_script_runs_after_the_facts_and_its_lines_come_back_alone() -> None:
    action = _action()
    assert action.command(None) == action.SCRIPT
    cmd = action.command("set -o pipefail\necho joined")
    assert cmd.startswith(action.SCRIPT) and cmd.endswith("(\nset -o pipefail\necho joined\n)")
    facts, lines = action.split(f"hostname cp1\nos debian \n{action.MARKER}\njoined\nclock 5\n")
    assert action.parse(facts)["hostname"] == "cp1"
    assert lines == ["joined", "clock 5"]
    assert action.split("hostname cp1\n") == ("hostname cp1\n", [])

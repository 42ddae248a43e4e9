"""Reading where a playbook run stopped from ansible's output (kubeforge.outcome)."""

from __future__ import annotations

from kubeforge.outcome import Outcome

OUTPUT = """\
PLAY [Prepare every node] ******************************************************

TASK [containerd : Install containerd, runc, the CNI plugins and crictl from the mirror] ***
Monday 07 December 2026  00:33:22 +0000 (0:00:00.098)       0:00:03.499 *******
ok: [cp1]
fatal: [w2]: UNREACHABLE! => {"changed": false, "msg": "Failed to connect to the host via ssh: \
ssh: connect to host 10.240.0.22 port 22: No route to host", "unreachable": true}

TASK [preflight : Probe] *******************************************************
fatal: [w1]: FAILED! => {"changed": false, "msg": "probe failed"}
...ignoring

TASK [node_remove : Remove the node's etcd member, from cp1] *******************
fatal: [cp2 -> cp1]: FAILED! => {"changed": false, "rc": 1, "stderr": "Error: member not found"}
fatal: [cp3]: FAILED! => not json at all
"""


def test_names_each_host_the_step_and_the_reason() -> None:
    out = Outcome()
    for line in OUTPUT.splitlines(keepends=True):
        out.feed(line)
    assert [(s.host, s.unreachable, s.step.split(" : ")[0]) for s in out.stops] == [
        ("w2", True, "containerd"), ("cp2", False, "node_remove"), ("cp3", False, "node_remove")]
    unreachable = out.stops[0].line()
    assert unreachable.startswith("w2 did not answer in step 'containerd : Install containerd")
    assert "No route to host" in unreachable and "run the same command again" in unreachable
    assert out.stops[1].why == "Error: member not found"
    assert out.stops[2].why == "not json at all"


def test_an_ignored_failure_is_not_a_stop() -> None:
    out = Outcome()
    for line in ("TASK [x : y] ***\n", 'fatal: [w1]: FAILED! => {"msg": "no"}\n', "...ignoring\n"):
        out.feed(line)
    assert out.stops == []

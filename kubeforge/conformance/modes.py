"""Which specs a run selects: the modes of Sonobuoy and Hydrophone, as ginkgo arguments.

The e2e framework gives every conformance spec the ginkgo label `Conformance` (and `Serial`,
`Disruptive` where they apply), so a mode is a label filter; the user's --focus/--skip regexes
narrow it further (ginkgo ANDs a label filter with focus and skip).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubeforge.errors import KubeforgeError

#: One spec per area a broken cluster usually shows first: a pod's life, cluster DNS, a Service's
#: endpoints, a rolling update, a volume from the API.
QUICK_SPECS: tuple[str, ...] = (
    "[sig-node] Pods should be submitted and removed",
    "[sig-network] DNS should provide DNS for the cluster",
    "[sig-network] Services should serve a basic endpoint from pods",
    "[sig-apps] Deployment RollingUpdateDeployment should delete old pods and create new ones",
    "[sig-storage] ConfigMap should be consumable from pods in volume [Conformance]",
)


@dataclass(frozen=True)
class Mode:
    name: str
    help: str
    labels: str  # a ginkgo label filter
    focus: str = ""


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("quick", f"{len(QUICK_SPECS)} conformance specs: a smoke test of a few minutes",
         "Conformance", "|".join(re.escape(s) for s in QUICK_SPECS)),
    # ginkgo runs the Serial specs alone, after the parallel ones, so only this mode drops them
    Mode("non-disruptive", "the conformance specs that may share the cluster: no [Serial] or "
         "[Disruptive] ones", "Conformance && !Serial && !Disruptive"),
    Mode("certified", "the whole conformance suite, serial specs included (what a "
         "cncf/k8s-conformance submission runs)", "Conformance"),
)}


@dataclass(frozen=True)
class Selection:
    labels: str
    focus: str
    skip: str

    def ginkgo_args(self) -> list[str]:
        args = [f"--label-filter={self.labels}"]
        args += [f"--focus={self.focus}"] if self.focus else []
        args += [f"--skip={self.skip}"] if self.skip else []
        return args


def selection(mode: str, focus: str | None = None, skip: str | None = None) -> Selection:
    """The mode's specs; --focus replaces the mode's own focus (quick's list), --skip adds one."""
    if mode not in MODES:
        raise KubeforgeError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    m = MODES[mode]
    for flag, rx in (("--focus", focus), ("--skip", skip)):
        if rx is None:
            continue
        try:
            re.compile(rx)
        except re.error as exc:
            raise KubeforgeError(f"{flag} {rx!r} is not a regular expression ({exc}); "
                                 "quote it for the shell, e.g. --focus 'sig-network'") from exc
    return Selection(m.labels, focus or m.focus, skip or "")

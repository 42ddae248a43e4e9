"""What kubeadm of a release pins: the etcd, CoreDNS and pause versions it deploys.

Read from kubeadm's own constants (k8s.io/kubernetes cmd/kubeadm/app/constants/constants.go in
the module zip the Go module proxy serves), so a bill of materials in versions.py can be checked
against the release instead of guessed: `kubeforge mirror pins 1.38.0` prints them for a new one.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.mirror import gotool

CONSTANTS = "cmd/kubeadm/app/constants/constants.go"
_FIELDS = {"etcd": "DefaultEtcdVersion", "coredns": "CoreDNSVersion", "pause": "PauseVersion"}


@dataclass(frozen=True)
class KubeadmPins:
    """Versions as versions.Release writes them: etcd without kubeadm's `-0` image suffix,
    CoreDNS without its `v`."""

    etcd: str
    coredns: str
    pause: str


def parse_constants(source: str) -> KubeadmPins:
    """The pins from the text of constants.go."""
    found: dict[str, str] = {}
    for key, name in _FIELDS.items():
        m = re.search(rf'^\s*{name}\s*=\s*"([^"]+)"', source, re.MULTILINE)
        if not m:
            raise KubeforgeError(f"{CONSTANTS} has no {name} = \"...\": kubeadm changed how it "
                                 "pins its components; read the file and update kubeadm_pins.py")
        found[key] = m.group(1)
    return KubeadmPins(etcd=found["etcd"].removesuffix("-0"),
                       coredns=found["coredns"].removeprefix("v"), pause=found["pause"])


def kubeadm_pins(kubernetes: str) -> KubeadmPins:
    """Fetch k8s.io/kubernetes@v`kubernetes` (Go module cache) and read kubeadm's pins."""
    with tempfile.TemporaryDirectory(prefix="kubeforge-pins-") as work:
        info = gotool.module_info("k8s.io/kubernetes", f"v{kubernetes}", gotool.go_env(),
                                  Path(work) / "go.log")
    member = f"k8s.io/kubernetes@v{kubernetes}/{CONSTANTS}"
    with zipfile.ZipFile(info["Zip"]) as z:
        try:
            source = z.read(member).decode()
        except KeyError as exc:
            raise KubeforgeError(f"{member} is not in the module zip {info['Zip']}") from exc
    return parse_constants(source)

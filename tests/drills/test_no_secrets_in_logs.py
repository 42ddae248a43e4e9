"""Drill: a deploy that mints join credentials leaks none of them, even at -vvv. One worker is
reset (`kubeforge reset ENV --limit WORKER`) and re-joined by `kubeforge deploy ENV -vvv`; the
whole output must hold no bootstrap token, no certificate key and no encryption key, and the
worker is Ready again at the end."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import status
from kubeforge.spec import ClusterSpec, spec_path

from .conftest import Kubectl, wait_for
from .remote import kubeforge

pytestmark = pytest.mark.lab

TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")
# a certificate key is 64 hex characters; sha256 digests look the same, so the digests the run
# may print are told apart: pinned artifacts (below), image digests and the CA hash (written
# `sha256:...`), and the digests of installed files that the roles read: sha256sum's
# "DIGEST  /path" lines, the probe plugin's "sum DIGEST /path" lines (its shell's output, shown at
# -vvv) and its result's {"/path": "DIGEST"} map
HEX64 = re.compile(r"(?<![0-9a-f:])[0-9a-f]{64}(?![0-9a-f])")
FILE_DIGEST = re.compile(r'(?<![0-9a-f])([0-9a-f]{64})  /|sum ([0-9a-f]{64}) /'
                         r'|"/[^"\s]*": "([0-9a-f]{64})"')


def _pinned_digests(spec: ClusterSpec, env: str) -> set[str]:
    """Every sha256 the rendered inventory and the mirror's table pin (public, may be printed)."""
    found = set(HEX64.findall((spec_path(env).parent / "group_vars/all/kubeforge.yml").read_text()))
    table = spec.mirrors.checksums_file
    if table and Path(str(table)).is_file():
        found |= set(HEX64.findall(Path(str(table)).read_text()))
    return found


def _bootstrap_tokens(kubectl: Kubectl) -> list[str]:
    res = kubectl("-n", "kube-system", "get", "secrets", "-o", "json",
                  "--field-selector", "type=bootstrap.kubernetes.io/token")
    assert res.returncode == 0, res.stderr
    out = []
    for item in json.loads(res.stdout)["items"]:
        d = item["data"]
        out.append(base64.b64decode(d["token-id"]).decode() + "."
                   + base64.b64decode(d["token-secret"]).decode())
    return out


def _ready(kubectl: Kubectl, node: str) -> bool:
    res = kubectl("get", "node", node, "-o", "json")
    if res.returncode != 0:
        return False
    conds: list[dict[str, Any]] = json.loads(res.stdout)["status"]["conditions"]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def test_rejoin_at_vvv_leaks_no_secret(spec: ClusterSpec, kubectl: Kubectl,
                                       pytestconfig: pytest.Config, tmp_path: Path) -> None:
    if not spec.workers:
        pytest.skip("needs a worker to reset and re-join")
    env = str(pytestconfig.getoption("env"))
    worker = spec.workers[-1].name
    cp = spec.control_plane[0]
    enc = yaml.safe_load(status.ssh(spec, cp, "cat /etc/kubernetes/encryption/config.yaml"))
    enc_keys = [k["secret"] for r in enc["resources"] for p in r["providers"]
                for conf in p.values() if conf for k in conf.get("keys", [])]
    assert enc_keys, "no encryption key on the first control-plane node"

    reset = kubeforge("reset", env, "--limit", worker, timeout=600)
    assert reset.returncode == 0, reset.stdout[-3000:]
    print(f"reset {worker} in {reset.took:.0f} s")

    log = tmp_path / "deploy-vvv.log"
    deploy = kubeforge("deploy", env, "-vvv", log=log, timeout=1800)
    text = deploy.stdout
    print(f"deploy -vvv re-joined {worker} in {deploy.took:.0f} s, "
          f"{len(text.splitlines())} lines of output, kept at {log}")
    assert deploy.returncode == 0, text[-4000:]
    assert f"changed: [{worker}]" in text, "the deploy did not touch the reset worker"

    # the tokens that exist right now include the one minted for this join (15-minute TTL)
    tokens = _bootstrap_tokens(kubectl)
    assert tokens, "no bootstrap token in the cluster: the deploy minted none"
    leaked = [t for t in tokens if t in text]
    shaped = sorted(set(TOKEN.findall(text)))
    assert not leaked, f"bootstrap tokens in the output: {len(leaked)}"
    assert not shaped, f"token-shaped strings in the output: {shaped[:5]}"

    pinned = _pinned_digests(spec, env)
    # a digest the probes printed as "DIGEST  /path" may show up again in their indexed facts
    files = {d for groups in FILE_DIGEST.findall(text) for d in groups if d}
    hex64 = sorted(set(HEX64.findall(text)) - pinned - files)
    assert not hex64, f"64-hex strings (certificate-key shaped) in the output: {hex64[:5]}"

    assert not [k for k in enc_keys if k in text], "the encryption key is in the output"
    print(f"scanned for {len(tokens)} live bootstrap token(s), the token pattern, "
          f"64-hex certificate-key shapes ({len(pinned)} pinned digests allowed) and "
          f"{len(enc_keys)} encryption key(s): none found")

    assert wait_for(f"{worker} Ready again", lambda: _ready(kubectl, worker), 300)

"""The filter that removes join secrets from failure reports (plugins/filter/redact.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

TOKEN = "abcdef.0123456789abcdef"
KEY = "0f" * 32
PIN = "sha256:" + "ab" * 32


def test_tokens_and_keys_are_replaced_everywhere(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    redact = filter_plugin("redact").redact_join_secrets
    text = (f"kubeadm join 10.0.0.1:6443 --token {TOKEN} --control-plane --certificate-key {KEY}\n"
            f"error: token \"{TOKEN}\" invalid; key={KEY.upper()}")
    out = redact(text)
    assert TOKEN not in out and KEY not in out and KEY.upper() not in out
    assert out.count("<token>") == 2 and out.count("<key>") == 2


def test_the_ca_pin_and_ordinary_text_are_kept(filter_plugin: Callable[[str], ModuleType]) -> None:
    redact = filter_plugin("redact").redact_join_secrets
    text = f"--discovery-token-ca-cert-hash {PIN} [preflight] Running pre-flight checks"
    assert redact(text) == text
    # longer hex runs (not a key) and no output at all
    assert redact("a" * 65) == "a" * 65
    assert redact(None) == ""
    assert set(filter_plugin("redact").FilterModule().filters()) == {"redact_join_secrets"}

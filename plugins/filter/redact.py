"""A filter that removes kubeadm's join secrets from text a failure report prints.

The tasks that run kubeadm with a token or a certificate key are no_log; when one fails, its
stderr is still worth showing, but only as `output | redact_join_secrets`:

    bootstrap tokens   "abcdef.0123456789abcdef"      -> "<token>"
    certificate keys   64 hex digits                  -> "<key>"

The CA public key pin ("sha256:<64 hex>") is public and is kept: it tells a reader which CA a
join trusted.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")
_KEY = re.compile(r"(?<![0-9a-fA-F])(?<!sha256:)[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def redact_join_secrets(text: Any) -> str:
    """TEXT with bootstrap tokens and certificate keys replaced by <token> and <key>."""
    return _KEY.sub("<key>", _TOKEN.sub("<token>", "" if text is None else str(text)))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"redact_join_secrets": redact_join_secrets}

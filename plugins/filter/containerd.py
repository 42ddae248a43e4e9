"""containerd's registry host files (certs.d/<registry>/hosts.toml), one per mirrored registry."""

from __future__ import annotations

from typing import Any

# the host containerd resolves for a registry when no mirror answers
UPSTREAM_HOSTS = {"docker.io": "registry-1.docker.io"}


def containerd_registry_hosts(mirrors: dict[str, list[str]], header: str,
                              certs_dir: str = "/etc/containerd/certs.d") -> list[dict[str, Any]]:
    """[{path, content}] of every registry's hosts.toml: its mirrors in order, pull and resolve
    only, the registry itself as the fallback server."""
    out = []
    for registry, endpoints in mirrors.items():
        lines = [f"# {header}", f'server = "https://{UPSTREAM_HOSTS.get(registry, registry)}"']
        for endpoint in endpoints:
            lines += ["", f'[host."{endpoint}"]', '  capabilities = ["pull", "resolve"]']
        out.append({"path": f"{certs_dir}/{registry}/hosts.toml",
                    "content": "\n".join(lines) + "\n"})
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"containerd_registry_hosts": containerd_registry_hosts}

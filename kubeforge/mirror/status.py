"""`kubeforge mirror status`: what is built (component, version, size) and what is served."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubeforge.mirror import components, oci, serve
from kubeforge.mirror.fsutil import human_size, tree_size
from kubeforge.mirror.layout import MirrorLayout


@dataclass(frozen=True)
class Built:
    component: str
    version: str
    size: int
    source: str
    build_seconds: float | None


def built(layout: MirrorLayout) -> list[Built]:
    out: list[Built] = []
    for comp in components.COMPONENTS:
        base = layout.builds / comp
        if not base.is_dir():
            continue
        for vdir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            info_file = vdir / components.BUILDINFO
            info = json.loads(info_file.read_text()) if info_file.exists() else {}
            out.append(Built(comp, vdir.name, tree_size(vdir), str(info.get("source", "")),
                             info.get("build_seconds")))
    return out


def report(layout: MirrorLayout) -> str:
    lines = [f"mirror: {layout.root}"]
    rows = built(layout)
    if not rows:
        lines.append("  nothing built yet: run `kubeforge mirror build`")
    for b in rows:
        lines.append(f"  {b.component:<20} {b.version:<16} {human_size(b.size):>10}")
    idx = oci.ImageLayout(layout.images).index()
    lines.append(f"images ({len(idx)}):")
    lines += [f"  {ref:<55} {d.digest}" for ref, d in sorted(idx.items())]
    lines.append(f"files: {human_size(tree_size(layout.files)) if layout.files.exists() else '-'}"
                 f"  checksums: {layout.checksums_file if layout.checksums_file.exists() else '-'}")
    addr = serve.listen_address(layout)
    state = serve.answering(layout)
    for svc in serve.SERVICES:
        where = svc.url(addr) if addr else "-"
        answer = "answers" if state[svc.name] else "not running"
        lines.append(f"server {svc.name:<9} {where:<28} {answer}")
    return "\n".join(lines)

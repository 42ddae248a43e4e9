"""`kubeforge mirror build`: components -> files/ tree -> images -> Debian repo -> checksums.yml.

Each step skips what already exists for its version, so re-running after an interruption (or
for a second release) only does the missing work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import charts, checksums, components, debs, files, images
from kubeforge.mirror.fsutil import human_duration
from kubeforge.mirror.layout import MirrorLayout

# --only accepts the components plus these steps.
STEPS: tuple[str, ...] = ("images", "charts", "debs")
# Control-host tools a lab does not need: built on first use (`kubeforge stack`,
# `kubeforge conformance`) or by --only.
ON_DEMAND: frozenset[str] = frozenset({"pulumi", "pulumi_kubernetes", "conformance",
                                       "busybox_upstream"})


def choices() -> tuple[str, ...]:
    return (*components.COMPONENTS, *STEPS)


def build(releases: Sequence[str] = (versions.DEFAULT_KUBERNETES,),
          only: Sequence[str] = (), layout: MirrorLayout | None = None) -> None:
    lay = layout or MirrorLayout.default()
    unknown = sorted(set(only) - set(choices()))
    if unknown:
        raise KubeforgeError(f"unknown mirror component(s) {', '.join(unknown)}; choose from: "
                             f"{', '.join(choices())}")
    wanted = set(only) if only else None
    rels = [lay.release(r) for r in releases]
    start = time.monotonic()
    lay.root.mkdir(parents=True, exist_ok=True)
    for rel in rels:
        print(f"[mirror] release {rel.kubernetes} -> {lay.root}", flush=True)
        for comp in components.COMPONENTS:
            if (comp in wanted) if wanted is not None else comp not in ON_DEMAND:
                components.build_component(lay, comp, rel)
        for path in files.pack_release(lay, rel, wanted):
            print(f"[mirror] file {path.relative_to(lay.files)}: packed", flush=True)
        if wanted is None or "images" in wanted or wanted & {r.component for r in
                                                              images.RECIPES.values()}:
            images.build_images(lay, rel, None if wanted is None or "images" in wanted
                                else wanted)
        if wanted is None or "charts" in wanted:
            made = [*charts.build_charts(lay, rel), *charts.build_manifests(lay, rel)]
            for path in made:
                print(f"[mirror] chart repo {path.relative_to(lay.files)}: written", flush=True)
    if wanted is None or "debs" in wanted:
        debs.build_repo(lay)
    table = checksums.write_table(lay)
    count = sum(len(v) for v in table.values())
    print(f"[mirror] {lay.checksums_file}: {count} checksums; all done "
          f"(took {human_duration(time.monotonic() - start)})", flush=True)

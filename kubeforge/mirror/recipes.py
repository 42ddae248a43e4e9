"""How the mirror describes a build: a Go recipe per component, an image recipe per image, and
the bundle a pod network's folder declares (kubeforge/cni/NAME/mirror.py). A leaf module, so
those folders can use it without importing the build machinery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubeforge import versions
from kubeforge.mirror import oci
from kubeforge.mirror.gotool import Binary, GoBuild
from kubeforge.mirror.layout import MirrorLayout


@dataclass(frozen=True)
class Context:
    layout: MirrorLayout
    release: versions.Release
    version: str
    work: Path


Recipe = Callable[[Context], GoBuild]


def simple(module: str, binaries: dict[str, str], ldflags: tuple[str, ...] = (), *,
           also_require: tuple[str, ...] = (), tags: tuple[str, ...] = (), cgo: bool = False,
           nosumdb: tuple[str, ...] = (), finalize_prereleases: bool = False,
           drop_imports: tuple[tuple[str, str], ...] = ()) -> Recipe:
    """A recipe for one module at the component's version; `{v}` in ldflags is `vX.Y.Z`.

    `also_require`: sibling modules required at that version too (upstream's go.mod replaces them
    with a local path the wrapper cannot copy).
    """
    def recipe(ctx: Context) -> GoBuild:
        v = f"v{ctx.version}"
        flags = tuple(f.format(v=v, bare=ctx.version) for f in ldflags)
        return GoBuild(requires=((module, v), *((m, v) for m in also_require)), primary=module,
                       binaries=tuple(Binary(p, n) for p, n in binaries.items()),
                       ldflags=("-s", "-w", *flags), tags=tags, cgo=cgo, nosumdb=nosumdb,
                       finalize_prereleases=finalize_prereleases, drop_imports=drop_imports)
    return recipe


@dataclass(frozen=True)
class ImageRecipe:
    component: str  # the build whose binaries go in
    files: dict[str, str]  # image path -> binary name in the component's build dir
    config: oci.ImageConfig
    base: str  # "static", "debian" or "none"


@dataclass(frozen=True)
class Bundle:
    """What the mirror builds for one pod network. Keys of `go` are its components (versions in
    the folder's `components`); `tarballs` packs node downloads as files.TARBALLS does; `images`
    assembles the images of the folder's `images`; `sources` says what a component is built from
    when that is not its own module at its own version."""

    go: dict[str, Recipe] = field(default_factory=dict)
    binaries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tarballs: dict[str, tuple[str, dict[str, str] | None]] = field(default_factory=dict)
    images: dict[str, ImageRecipe] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

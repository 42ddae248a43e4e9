"""Where kubeforge keeps things: the repository root and the build cache."""

import os
from pathlib import Path

#: The repository (or source tree) that holds playbooks/, roles/ and inventories/.
ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Build cache shared by every checkout on this machine, keyed inside by versions.

    ``KUBEFORGE_CACHE`` overrides it. Outside the work tree so that a fresh clone (CI) reuses
    artifacts that took minutes to build.
    """
    env = os.environ.get("KUBEFORGE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kubeforge"


def admin_kubeconfig(cluster: str) -> Path:
    """Where the kubeconfig role puts a cluster's admin kubeconfig (its `kubeconfig_dest`)."""
    return ROOT / ".cache" / cluster / "admin.conf"


def inventories_dir() -> Path:
    return ROOT / "inventories"


def in_mirror(path: Path) -> bool:
    """True for a path inside the mirror cache: a missing one means the mirror is not built."""
    return path.is_relative_to(cache_dir() / "mirror")


MIRROR_BUILD_HINT = "run `kubeforge mirror build` first"

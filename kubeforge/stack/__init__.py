"""The Pulumi adapter: the cluster as Pulumi resources, plus what runs Pulumi offline.

`stacks/cluster` is the Pulumi project; its components live here so they are typed, linted and
unit-tested with the rest of the package. `toolchain` puts the mirror-built CLI and plugins on
PATH, and `langhost` is the Python language host the engine starts (see its docstring for why
kubeforge has its own).
"""

from pathlib import Path

from kubeforge import paths


def cache_dir() -> Path:
    """The checkout's Pulumi files: bin, state, logs, fetched manifests (git-ignored)."""
    return paths.ROOT / ".cache" / "pulumi"

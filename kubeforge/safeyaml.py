"""Every YAML file kubeforge reads (spec, values files, checksums tables), read with bounds.

A file that is too large, not UTF-8, nested too deeply or that expands through aliases into more
nodes than any real spec holds ("billion laughs": a few lines that expand into billions of
values and make every walk over them hang) is refused with its name and, where there is one, its
line, instead of a traceback or a hang.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubeforge.errors import KubeforgeError

MAX_BYTES = 4 << 20
MAX_DEPTH = 50
# after alias expansion: a large spec with many releases and values holds a few thousand
MAX_NODES = 200_000


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KubeforgeError(
            f"{source}:{_line_of(data, exc.start)}: not UTF-8 text (byte {data[exc.start]:#04x} "
            "at that line): save the file as UTF-8") from None


def _measure(root: yaml.Node, source: str) -> None:
    """Refuse a document deeper than MAX_DEPTH or larger than MAX_NODES once aliases are expanded
    (sizes are memoized per node, so the alias graph is walked once, not expanded)."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    # iterative post-order walk: a deep document must not exhaust Python's stack here either
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
        depths[id(node)] = 1 + max((depths[id(c)] for c in children), default=0)
        line = node.start_mark.line + 1
        if depths[id(node)] > MAX_DEPTH:
            raise KubeforgeError(f"{source}:{line}: nested more than {MAX_DEPTH} levels deep: "
                                 "flatten the document")
        if sizes[id(node)] > MAX_NODES:
            raise KubeforgeError(f"{source}:{line}: expands to more than {MAX_NODES} values "
                                 "(through YAML aliases): remove the aliases that repeat "
                                 "other aliases")


def compose(text: str, source: str) -> yaml.Node | None:
    """The document's node graph, checked against the bounds; KubeforgeError names the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise KubeforgeError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc} "
                             "— fix the syntax (indentation, a missing ':' or quote)") from None
    except RecursionError:
        raise KubeforgeError(f"{source}: nested too deeply to read: flatten the document") \
            from None
    if node is not None:
        _measure(node, source)
    return node


def load_text(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """(the data, its node graph for line numbers) of a YAML document within the bounds."""
    node = compose(text, source)
    if node is None:
        return None, None
    # constructed from the checked graph, not parsed again
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise KubeforgeError(f"{where}: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        loader.dispose()
    return data, node


def read(path: Path, source: str | None = None, max_bytes: int = MAX_BYTES,
         ) -> tuple[Any, yaml.Node | None]:
    """Read one YAML file within the bounds: (data, node graph)."""
    source = source or str(path)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except IsADirectoryError:
        raise KubeforgeError(f"{source}: is a folder, not a file") from None
    except OSError as exc:
        raise KubeforgeError(f"{source}: cannot read it: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise KubeforgeError(f"{source}: larger than {max_bytes >> 20} MiB: not a file kubeforge "
                             "expects here")
    return load_text(decode(data, source), source)

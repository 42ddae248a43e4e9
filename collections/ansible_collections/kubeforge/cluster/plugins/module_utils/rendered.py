"""Rendered files written in one module run: shared by the files and artifacts modules.

Each file is written only if its content, mode or owner differs, by atomic rename. Files with a
`validate` command are staged and checked first: if one is rejected, none is replaced.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

from ansible_collections.kubeforge.cluster.plugins.module_utils.fs import (
    file_mode,
    parse_mode,
    stage,
)

#: the suboptions of a rendered file, as both modules declare them
FILE_OPTIONS: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "content": {"type": "str", "required": True},
    "mode": {"type": "raw", "default": "0644"},
    "validate": {"type": "str"},
}


class Invalid(Exception):
    def __init__(self, path: str, command: str, output: str) -> None:
        super().__init__(path)
        self.path, self.command, self.output = path, command, output

    def __str__(self) -> str:
        return (f"{self.path} was not written (nor any file of this run): `{self.command}` "
                f"rejected it: {self.output}")


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _validate(module: Any, path: str, command: str, copy: str) -> None:
    rc, out, err = module.run_command(command.replace("%s", copy))
    if rc != 0:
        raise Invalid(path, command, (err or out).strip())


def write_files(module: Any, files: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, str]]]:
    """Writes the files that differ; returns (changed paths, per-file diffs). Raises Invalid."""
    check = module.check_mode
    changes: list[str] = []
    diffs: list[dict[str, str]] = []
    staged: list[tuple[str, str]] = []  # (temporary file, destination), replaced at the end
    try:
        for item in files:
            path, mode = item["path"], parse_mode(item["mode"])
            data = item["content"].encode()
            old = read(path)
            if old == data and file_mode(path) == (mode, 0, 0):
                continue
            changes.append(path)
            diffs.append({"before_header": path, "after_header": f"{path} (mode {mode:04o})",
                          "before": old.decode(errors="replace") if old is not None else "",
                          "after": item["content"]})
            command = item.get("validate")
            if check:
                # a run that would fail says so: the check validates a copy outside path's folder
                # (unless the validating program is not installed yet: a package the run adds)
                if command and module.get_bin_path(command.split()[0]):
                    with tempfile.NamedTemporaryFile(prefix=".kubeforge-") as copy:
                        copy.write(data)
                        copy.flush()
                        _validate(module, path, command, copy.name)
                continue
            tmp = stage(path, io.BytesIO(data), mode)[0]
            staged.append((tmp, path))
            if command:
                _validate(module, path, command, tmp)
        for tmp, path in staged:
            os.replace(tmp, path)
        staged = []
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return changes, diffs

"""Ansible module kubeforge.cluster.files: write a role's rendered files in one run.

A role that writes several small files (configurations, units, drop-ins) spent one template or
copy run per file, each a Python start on the node. The role renders them on the control host
(the template lookup) and this module writes them all at once: each file only if its content,
mode or owner differs, by atomic rename, with check mode and a per-file --diff. A file with a
`validate` command is checked before anything is replaced: one invalid file leaves every file of
the run as it was.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.kubeforge.cluster.plugins.module_utils.fs import (
    ensure_folder,
    file_mode,
    folder_spec,
    parse_mode,
    stage,
)

DOCUMENTATION = r"""
module: files
short_description: Write rendered files (content, mode, root:root) and their folders in one run
description:
  - Folders first, then each file whose content, mode or owner differs, replaced atomically.
  - Files with C(validate) are checked first; if one fails, no file is replaced.
  - Returns C(changes), the paths that changed, for handlers and later tasks.
options:
  folders:
    description: Folders made (or set to) root:root, each a path (mode 0755) or {path, mode}.
    type: list
    elements: raw
    default: []
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      path: {description: Where the file goes., type: path, required: true}
      content: {description: Its content., type: str, required: true}
      mode: {description: Its mode., type: raw, default: "0644"}
      validate:
        description:
          - A command that must accept the new content, C(%s) standing for a copy of it.
          - Check mode runs it too, unless its program is not installed yet.
        type: str
"""


class Invalid(Exception):
    def __init__(self, path: str, command: str, output: str) -> None:
        super().__init__(path)
        self.path, self.command, self.output = path, command, output


def validate(module: AnsibleModule, path: str, command: str, copy: str) -> None:
    rc, out, err = module.run_command(command.replace("%s", copy))
    if rc != 0:
        raise Invalid(path, command, (err or out).strip())


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "folders": {"type": "list", "elements": "raw", "default": []},
            "files": {"type": "list", "elements": "dict", "required": True, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "required": True},
                "mode": {"type": "raw", "default": "0644"},
                "validate": {"type": "str"},
            }},
        },
        supports_check_mode=True,
    )
    check = module.check_mode
    changes: list[str] = []
    diffs: list[dict[str, str]] = []
    staged: list[tuple[str, str]] = []  # (temporary file, destination), replaced at the end
    folders = {folder_spec(item)[0] for item in module.params["folders"]}
    try:
        for item in module.params["folders"]:
            path, mode = folder_spec(item)
            if ensure_folder(path, mode, check):
                changes.append(path)
                diffs.append({"before_header": path, "after_header": path,
                              "before": "", "after": f"folder {mode:04o} root:root\n"})
        for item in module.params["files"]:
            path, mode = item["path"], parse_mode(item["mode"])
            data = item["content"].encode()
            old = read(path)
            if old == data and file_mode(path) == (mode, 0, 0):
                continue
            changes.append(path)
            diffs.append({"before_header": path, "after_header": f"{path} (mode {mode:04o})",
                          "before": old.decode(errors="replace") if old is not None else "",
                          "after": item["content"]})
            if check:
                # a run that would fail says so: the check validates a copy outside path's folder
                # (unless the validating program is not installed yet: a package the run would add)
                if item["validate"] and module.get_bin_path(item["validate"].split()[0]):
                    with tempfile.NamedTemporaryFile(prefix=".kubeforge-") as copy:
                        copy.write(data)
                        copy.flush()
                        validate(module, path, item["validate"], copy.name)
                continue
            tmp = stage(path, io.BytesIO(data), mode)[0]
            staged.append((tmp, path))
            if item["validate"]:
                validate(module, path, item["validate"], tmp)
        if not check:
            for tmp, path in staged:
                os.replace(tmp, path)
            staged = []
    except Invalid as exc:
        made = [path for path in changes if path in folders]
        module.fail_json(msg=f"{exc.path} was not written (nor any file of this run): "
                             f"`{exc.command}` rejected it: {exc.output}",
                         changed=bool(made), changes=made)
    except OSError as exc:
        module.fail_json(msg=f"writing {exc.filename or 'a file'} failed: {exc.strerror}",
                         changed=bool(changes), changes=changes)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
    result: dict[str, Any] = {"changed": bool(changes), "changes": changes}
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()

"""Ansible module kubeforge.cluster.files: write a role's rendered files in one run.

A role that writes several small files (configurations, units, drop-ins) spent one template or
copy run per file, each a Python start on the node. The role renders them on the control host
(the template lookup) and this module writes them all at once: each file only if its content,
mode or owner differs, by atomic rename, with check mode and a per-file --diff. A file with a
`validate` command is checked before anything is replaced: one invalid file leaves every file of
the run as it was.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.kubeforge.cluster.plugins.module_utils.fs import ensure_folder, folder_spec
from ansible_collections.kubeforge.cluster.plugins.module_utils.rendered import (
    FILE_OPTIONS,
    Invalid,
    write_files,
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "folders": {"type": "list", "elements": "raw", "default": []},
            "files": {"type": "list", "elements": "dict", "required": True,
                      "options": FILE_OPTIONS},
        },
        supports_check_mode=True,
    )
    made: list[str] = []
    diffs: list[dict[str, str]] = []
    try:
        for item in module.params["folders"]:
            path, mode = folder_spec(item)
            if ensure_folder(path, mode, module.check_mode):
                made.append(path)
                diffs.append({"before_header": path, "after_header": path,
                              "before": "", "after": f"folder {mode:04o} root:root\n"})
        written, file_diffs = write_files(module, module.params["files"])
    except Invalid as exc:
        module.fail_json(msg=str(exc), changed=bool(made), changes=made)
    except OSError as exc:
        module.fail_json(msg=f"writing {exc.filename or 'a file'} failed: {exc.strerror}",
                         changed=bool(made), changes=made)
    changes = made + written
    result: dict[str, Any] = {"changed": bool(changes), "changes": changes}
    if module._diff and changes:
        result["diff"] = diffs + file_diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()

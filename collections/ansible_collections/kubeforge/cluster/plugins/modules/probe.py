"""Documentation of the kubeforge.cluster.probe action (it runs on the control host)."""

DOCUMENTATION = r"""
module: probe
short_description: Read what differs on a node from a role's wanted state, in one shell command
description:
  - Each item names the step that makes it so; returns C(pending) (step -> anything to do),
    C(differs) (step -> what and why), C(services), C(sha256) of files marked C(digest),
    C(contents) of C(reads) and C(outputs) of C(commands). No Python runs on the node.
options:
  files:
    description: Files ({path, step, sha256 or content, mode (0644), owner (root:root), digest}).
    type: list
    elements: dict
  dirs:
    description: Folders ({path, step, mode (0755), owner (root:root)}).
    type: list
    elements: dict
  links:
    description: Symbolic links ({path, target, step}).
    type: list
    elements: dict
  services:
    description: systemd units ({name, step, active, enabled}).
    type: list
    elements: dict
  sysctls:
    description: Kernel parameters ({key, value, step}).
    type: list
    elements: dict
  packages:
    description: Debian packages that must be installed ({name, step}).
    type: list
    elements: dict
  reads:
    description: Files whose lines are returned in C(contents).
    type: list
    elements: path
  commands:
    description: Named shell commands whose output lines are returned in C(outputs).
    type: dict
"""

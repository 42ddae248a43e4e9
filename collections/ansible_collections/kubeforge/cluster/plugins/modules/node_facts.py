"""Documentation of the kubeforge.cluster.node_facts action (it runs on the control host)."""

DOCUMENTATION = r"""
module: node_facts
short_description: Read hostname, os_family and default_ipv4 with one shell command
description:
  - Sets ansible_facts['hostname'], ansible_facts['os_family'] and ansible_facts['default_ipv4']
    (address, interface, gateway, macaddress) as the setup module would, without running Python
    on the node.
  - With C(script), runs that bash script in the same round trip and returns its output as
    stdout/stdout_lines (rc, stderr too); a non-zero exit fails the task, the facts still set.
options:
  script:
    description: A bash script to run after the facts are read (in a subshell of its own).
    type: str

"""

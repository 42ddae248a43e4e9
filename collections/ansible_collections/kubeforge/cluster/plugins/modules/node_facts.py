"""Documentation of the kubeforge.cluster.node_facts action (it runs on the control host)."""

DOCUMENTATION = r"""
module: node_facts
short_description: Read hostname, os_family and default_ipv4 with one shell command
description:
  - Sets ansible_facts['hostname'], ansible_facts['os_family'] and ansible_facts['default_ipv4']
    (address, interface, gateway, macaddress) as the setup module would, without running Python
    on the node.
options: {}
"""

"""testinfra checks of the Molecule scenarios whose role leaves a state the deploy's own checks
(tests/verify) do not describe: a reset node, a removed node, an installed snapshot timer. Run by
molecule/shared/verify.yml with --ansible-inventory inventories/molecule."""

from __future__ import annotations

# the deploy checks' fixtures (the rendered spec, the inventory's groups, kubectl on the first
# control-plane node), so both read the environment the same way
from tests.verify.conftest import first_cp, group_vars, inventory_hosts, kubectl

__all__ = ["first_cp", "group_vars", "inventory_hosts", "kubectl"]

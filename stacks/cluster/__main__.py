"""kubeforge cluster stack: `pulumi up -s ENV` turns inventories/ENV/cluster.yml into a cluster.

Run it through `kubeforge pulumi ENV -- up`, or `eval "$(kubeforge pulumi-env)"` first, so the
offline toolchain (mirror-built CLI and plugins, kubeforge's language host) is on PATH.
"""

import os

import pulumi

from kubeforge.spec import load_spec, spec_path
from kubeforge.stack.components import declare

# KUBEFORGE_STACK_SPEC previews a changed copy of the spec without editing the stack's file.
env = os.environ.get("KUBEFORGE_STACK_SPEC") or pulumi.Config().get("env") or pulumi.get_stack()
# the lab's SSH files appear with its machines: `kubeforge deploy` checks them when it runs
spec = load_spec(env, check_files=False)

cluster = declare(spec, spec_path(env))

pulumi.export("endpoint", cluster.bootstrap.endpoint)
pulumi.export("kubeconfig", cluster.bootstrap.kubeconfig)
pulumi.export("nodes", cluster.machines.hosts)
pulumi.export("releases", cluster.addons.releases)

"""Documentation of the kubeforge.cluster.run_lock action (it runs on the control host)."""

DOCUMENTATION = r"""
module: run_lock
short_description: One change to a node at a time, whichever control host drives it
description:
  - C(free) fails on a node whose lock names another run that is alive, or that this control host
    cannot see, with the holder and how to clear it. Run it on every node before C(held), so that
    a refused run takes no lock anywhere.
  - C(held) creates /run/kubeforge/run.lock on the node, naming this run (control host,
    ansible-playbook's pid, user, command, start); a lock of a run of this control host that has
    ended is taken over, with a warning.
  - C(released) removes the lock if it is this run's; with I(ended), the lock of a run of this
    control host that has ended instead (never a live run's, nor another host's). Check mode only
    reads the lock.
  - Reports a change only when I(ended) removed a lock. /run is a tmpfs: a reboot clears the lock.
options:
  state:
    description: Take the lock or give it back.
    type: str
    choices: [free, held, released]
    default: held
  ended:
    description: With C(released), remove the lock of an ended run of this control host (a run
      that failed or was killed) rather than this run's.
    type: bool
    default: false
  command:
    description: The command that names this run (default the KUBEFORGE_COMMAND environment
      variable the kubeforge CLI sets, else ansible-playbook).
    type: str
"""

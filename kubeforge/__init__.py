"""kubeforge: declarative provisioner for highly available kubeadm clusters."""

__version__ = "0.1.0"

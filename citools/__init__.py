"""Tooling of this repository's CI (not part of kubeforge)."""

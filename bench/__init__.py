"""Benchmarks of kubeforge against the raw kubeadm lower bound (see bench/run.py)."""

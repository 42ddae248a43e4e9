"""The cluster spec: the single source of truth for one environment."""

from kubeforge.spec.loader import load_spec, spec_path, validate_data
from kubeforge.spec.models import ClusterSpec, Host

__all__ = ["ClusterSpec", "Host", "load_spec", "spec_path", "validate_data"]

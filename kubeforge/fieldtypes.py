"""Field types and the strict model configuration, shared by the spec's models and the pod
networks' folders (kubeforge.cni). A leaf module: the version table imports those folders."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

Port = Annotated[int, Field(ge=1, le=65535)]
# unknown keys are errors (a typo must never be silently ignored); a spec never changes once read
STRICT = ConfigDict(extra="forbid", frozen=True)

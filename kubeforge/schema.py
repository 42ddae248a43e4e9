"""JSON Schema of cluster.yml, committed as inventories/cluster.schema.json for editors."""

from __future__ import annotations

import json

from kubeforge.spec.models import ClusterSpec


def schema_text() -> str:
    schema = ClusterSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kubeforge cluster spec"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"

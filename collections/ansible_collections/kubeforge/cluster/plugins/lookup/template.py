"""Lookup kubeforge.cluster.template: ansible.builtin.template's rendering, without its copy of
every variable.

The roles render their configuration files on the control host to compare a digest with what the
node has (the wanted state a probe reads) on every run, for every node. The builtin lookup
deep-copies all of the host's variables before each rendering (its own FIXME asks why it is not a
ChainMap): measured with py-spy, the lookup was 16 % of the control host's Python samples in a
re-run with nothing to do, most of it that copy. Here the copy is a shallow one (the template's
own variables, template_path, ansible_managed, ..., are added to it; rendering changes no
variable); the rendering is the builtin lookup's.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleError  # type: ignore[import-untyped]
from ansible.plugins.lookup.template import LookupModule as BuiltinTemplate  # type: ignore[import-untyped]

DOCUMENTATION = r"""
name: template
short_description: Render a template file with the host's variables (no copy of them)
description:
  - The same as ansible.builtin.template's lookup (search path, template_path and ansible_managed
    variables, includes from the templates folder) without deep-copying the variables first.
  - Of the builtin lookup's options, takes template_vars only.
options:
  _terms:
    description: Template file names, searched for in the role's templates folder.
    required: true
  template_vars:
    description: Variables for the template only (over the host's).
    type: dict
    default: {}
"""

RETURN = r"""
_raw:
  description: The rendered text of each template.
  type: list
  elements: str
"""


class _Shallow(dict[str, Any]):
    """The variables as the builtin lookup receives them; its deep copy (to add the template's
    own variables without touching the host's) is a shallow one: rendering changes nothing."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return dict(self)


# the builtin lookup's option defaults (this lookup takes template_vars only)
DEFAULTS: dict[str, Any] = {
    "template_vars": {}, "variable_start_string": "{{", "variable_end_string": "}}",
    "comment_start_string": "{#", "comment_end_string": "#}", "trim_blocks": True,
}


class LookupModule(BuiltinTemplate):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._given: dict[str, Any] = {}

    def set_options(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_option(self, option: str, hostvars: Any = None) -> Any:
        return self._given.get(option, DEFAULTS[option])

    def run(self, terms: list[str], variables: dict[str, Any] | None = None,
            **kwargs: Any) -> list[str]:
        unknown = set(kwargs) - {"template_vars"}
        if unknown:
            raise AnsibleError(f"kubeforge.cluster.template takes only template_vars, not "
                               f"{', '.join(sorted(unknown))}")
        self._given = kwargs
        out: list[str] = super().run(terms, _Shallow(variables or {}))
        return out

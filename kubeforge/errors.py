"""Errors a user can act on. The CLI prints them without a traceback."""


class KubeforgeError(Exception):
    """An error with a message that says what is wrong, where, and how to fix it."""

    exit_code = 2


class SpecError(KubeforgeError):
    """The cluster spec is invalid. ``problems`` holds one line per problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the cluster spec:\n{lines}")

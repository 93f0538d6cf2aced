"""The one error the SDK raises for a schema that cannot be exported."""

from __future__ import annotations

__all__ = ["SchemaError"]


class SchemaError(Exception):
    """Every problem found while exporting a schema, reported at once.

    ``problems`` holds one line per mistake, each naming the declaration (class or function)
    and, where it applies, the field or argument: ``type Order.total: unsupported annotation``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"schema has {count} problem{'s' if count != 1 else ''}:\n{lines}")

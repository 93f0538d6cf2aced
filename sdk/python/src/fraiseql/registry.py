"""The process-wide list of declarations that the decorators fill and ``export`` reads.

Decorators only record what they were given; every check waits for export so that forward
references resolve and all mistakes are reported together.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Declaration", "Registry", "REGISTRY", "reset_registry"]

#: Declaration kinds, in the order ``schema.json`` lists their sections.
TYPE_KINDS = ("type", "input", "enum")
OPERATION_KINDS = ("query", "mutation", "subscription")


@dataclass
class Declaration:
    """One decorated class or function, with the options its decorator received."""

    kind: str
    obj: Any
    name: str
    options: dict[str, Any]
    unsupported: dict[str, Any] = field(default_factory=dict)
    #: Globals used to resolve string annotations (the defining module's namespace).
    namespace: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name it: ``type Order``, ``query orders``."""
        return f"{self.kind} {self.name}"

    @property
    def origin(self) -> str:
        """Where it was defined, for duplicate-name messages."""
        module = getattr(self.obj, "__module__", "?")
        qualname = getattr(self.obj, "__qualname__", self.name)
        return f"{module}.{qualname}"


class Registry:
    """Declarations in definition order."""

    def __init__(self) -> None:
        self.declarations: list[Declaration] = []

    def add(self, decl: Declaration) -> None:
        """Record a declaration; decorating the same object twice keeps the last options."""
        for i, existing in enumerate(self.declarations):
            if existing.obj is decl.obj and existing.kind == decl.kind:
                self.declarations[i] = decl
                return
        self.declarations.append(decl)

    def of_kind(self, kind: str) -> list[Declaration]:
        return [d for d in self.declarations if d.kind == kind]

    def find(self, obj: Any) -> Declaration | None:
        """The type/input/enum declaration of a class, if it has one."""
        for d in self.declarations:
            if d.obj is obj and d.kind in TYPE_KINDS:
                return d
        return None

    def clear(self) -> None:
        self.declarations.clear()


REGISTRY = Registry()
"""The registry the module-level decorators write to."""


def reset_registry() -> None:
    """Forget every declaration (for tests, notebooks, or exporting several schemas)."""
    REGISTRY.clear()


def module_namespace(obj: Any) -> dict[str, Any]:
    """The globals a declaration's string annotations are evaluated in."""
    globals_ = getattr(obj, "__globals__", None)
    if isinstance(globals_, dict):
        return globals_
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    return vars(module) if module is not None else {}


def declare_type(kind: str, cls: Any, options: dict[str, Any], unsupported: dict[str, Any]) -> Any:
    """Record a class decorated with ``@fraiseql.type``/``input``/``enum``; returns it as is."""
    REGISTRY.add(
        Declaration(
            kind=kind,
            obj=cls,
            name=cls.__name__,
            options=options,
            unsupported=unsupported,
            namespace=module_namespace(cls),
        )
    )
    return cls


def declare_operation(
    kind: str, fn: Callable[..., Any], options: dict[str, Any], unsupported: dict[str, Any]
) -> Callable[..., Any]:
    """Record a function decorated with ``@fraiseql.query``/``mutation``/``subscription``."""
    REGISTRY.add(
        Declaration(
            kind=kind,
            obj=fn,
            name=fn.__name__,
            options=options,
            unsupported=unsupported,
            namespace=module_namespace(fn),
        )
    )
    return fn

"""Python annotations → GraphQL type references (``[OrderItem!]!``).

``T`` is non-null (``T!``), ``T | None`` / ``Optional[T]`` nullable, ``list[T]`` a non-null
list of non-null items (``[T!]!``). String annotations and forward references are evaluated in
the defining module, falling back to declared type names, so ``'Product'`` works before
``Product`` exists. ``typing.Annotated`` metadata is returned for the caller to read.
"""

from __future__ import annotations

import builtins
import collections.abc
import datetime
import decimal
import enum
import types
import typing
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from . import scalars
from .context import Context

__all__ = ["AnnotationError", "TypeRef", "Resolver"]

#: Python types and ``fraiseql.scalars`` names → GraphQL scalar names.
SCALARS: dict[Any, str] = {
    str: "String",
    int: "Int",
    float: "Float",
    bool: "Boolean",
    decimal.Decimal: "Decimal",
    datetime.datetime: "DateTime",
    datetime.date: "Date",
    uuid.UUID: "UUID",
    dict: "JSON",
    scalars.ID: "ID",
    scalars.UUID: "UUID",
    scalars.DateTime: "DateTime",
    scalars.Date: "Date",
    scalars.Decimal: "Decimal",
    scalars.JSON: "JSON",
}

_LIST_ORIGINS = (list, collections.abc.Sequence, collections.abc.Iterable, tuple)
_UNION_ORIGINS = (typing.Union, types.UnionType)
_NONE = (None, type(None))
_LIBRARY_MODULES = frozenset(
    {
        "builtins",
        "typing",
        "typing_extensions",
        "collections",
        "collections.abc",
        "datetime",
        "decimal",
        "uuid",
        "enum",
        "types",
    }
)


class AnnotationError(Exception):
    """An annotation that has no GraphQL type; the message says why."""


@dataclass(frozen=True)
class TypeRef:
    """A resolved annotation."""

    text: str
    """GraphQL type reference, e.g. ``[Order!]!``."""
    base: str
    """Innermost named type, e.g. ``Order``."""
    kind: str
    """``scalar``, ``enum``, ``type`` or ``input``."""
    is_list: bool
    nullable: bool
    metadata: tuple[Any, ...] = ()
    """``typing.Annotated`` extras of the outermost annotation."""
    target: Any = None
    """The Python class of ``base`` for types/inputs/enums."""


@dataclass(frozen=True)
class _Named:
    name: str
    kind: str
    target: Any


class Resolver:
    """Resolves annotations against declared types.

    ``lookup(obj)`` returns ``(graphql_name, kind)`` for a declared class, or ``None``;
    ``names`` maps declared names to their classes, for string annotations.
    """

    def __init__(self, lookup: Callable[[Any], tuple[str, str] | None], names: dict[str, Any]) -> None:
        self._lookup = lookup
        self._names = names

    def resolve(self, annotation: Any, namespace: dict[str, Any]) -> TypeRef:
        """Resolve one annotation; raises :class:`AnnotationError`."""
        annotation = self._evaluate(annotation, namespace)
        metadata: tuple[Any, ...] = ()
        if typing.get_origin(annotation) is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            metadata = tuple(extra)
            annotation = self._evaluate(base, namespace)
        text, named, nullable = self._render(annotation, namespace)
        return TypeRef(
            text=text,
            base=named.name,
            kind=named.kind,
            is_list=text.lstrip().startswith("["),
            nullable=nullable,
            metadata=metadata,
            target=named.target,
        )

    def _evaluate(self, annotation: Any, namespace: dict[str, Any]) -> Any:
        if isinstance(annotation, typing.ForwardRef):
            annotation = annotation.__forward_arg__
        if not isinstance(annotation, str):
            return annotation
        source = annotation.strip()
        # Module globals win (that is what Python itself would see); declared names fill in
        # for classes defined later or in another module.
        local = {k: v for k, v in self._names.items() if k not in namespace}
        try:
            return eval(source, {"__builtins__": builtins, **namespace}, local)  # noqa: S307
        except NameError as exc:
            missing = getattr(exc, "name", None) or source
            raise AnnotationError(f"unknown type {missing!r} in annotation {annotation!r}") from None
        except Exception as exc:  # a syntax error or an invalid expression in a string
            raise AnnotationError(f"cannot evaluate annotation {annotation!r}: {exc}") from None

    def _render(self, annotation: Any, namespace: dict[str, Any]) -> tuple[str, _Named, bool]:
        """Returns ``(text, innermost named type, nullable)``."""
        annotation = self._evaluate(annotation, namespace)
        origin = typing.get_origin(annotation)

        if origin is typing.Annotated:
            return self._render(typing.get_args(annotation)[0], namespace)

        if origin in _UNION_ORIGINS:
            args = typing.get_args(annotation)
            present = [a for a in args if a not in _NONE]
            if len(present) == len(args):
                raise AnnotationError(f"union {_show(annotation)} is not supported; only `T | None` is")
            if len(present) != 1:
                raise AnnotationError(f"union {_show(annotation)} is not supported; only `T | None` is")
            text, named, _ = self._render(present[0], namespace)
            return text.removesuffix("!"), named, True

        if origin in _LIST_ORIGINS or annotation in _LIST_ORIGINS:
            args = typing.get_args(annotation)
            if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
                args = args[:1]
            if len(args) != 1:
                raise AnnotationError(
                    f"list annotation {_show(annotation)} needs one item type: write list[T]"
                )
            text, named, _ = self._render(args[0], namespace)
            return f"[{text}]!", named, False

        if origin is dict or annotation is dict:
            return "JSON!", _Named("JSON", "scalar", None), False

        return self._named(annotation)

    def _named(self, annotation: Any) -> tuple[str, _Named, bool]:
        if annotation in _NONE:
            raise AnnotationError("None alone is not a type; write `T | None`")
        scalar = _scalar(annotation)
        if scalar is not None:
            return f"{scalar}!", _Named(scalar, "scalar", None), False
        declared = self._lookup(annotation)
        if declared is not None:
            name, kind = declared
            return f"{name}!", _Named(name, kind, annotation), False
        if isinstance(annotation, typing.NewType):
            # A user NewType (Email = NewType("Email", str)) is its underlying scalar.
            return self._named(annotation.__supertype__)
        # Parameterised generics (set[int]) pass isinstance(…, type) on 3.10; rule them out,
        # and library classes (set, typing.Any on 3.11+) are simply unsupported.
        if (
            typing.get_origin(annotation) is None
            and isinstance(annotation, builtins.type)
            and annotation.__module__ not in _LIBRARY_MODULES
        ):
            if issubclass(annotation, Context):
                raise AnnotationError(
                    f"{annotation.__name__} is a context type; it may only annotate the first "
                    "parameter of a query, mutation or subscription"
                )
            if issubclass(annotation, enum.Enum):
                raise AnnotationError(
                    f"enum {annotation.__name__} is not declared; decorate it with @fraiseql.enum"
                )
            raise AnnotationError(
                f"class {annotation.__name__} is not declared; decorate it with "
                "@fraiseql.type or @fraiseql.input"
            )
        raise AnnotationError(
            f"unsupported annotation {_show(annotation)} (use str, int, float, bool, Decimal, "
            "datetime, date, UUID, dict, fraiseql.scalars, a declared type/input/enum, "
            "list[T] or T | None)"
        )


def _scalar(annotation: Any) -> str | None:
    try:
        return SCALARS.get(annotation)
    except TypeError:  # unhashable annotation objects
        return None


def _show(annotation: Any) -> str:
    if typing.get_origin(annotation) is None and isinstance(annotation, builtins.type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")

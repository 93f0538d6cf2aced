"""Per-field options: ``fraiseql.field``, ``fraiseql.relation`` and ``fraiseql.federated``.

Each returns a :class:`FieldSpec`, used either as the class attribute's default
(``total: Decimal = fraiseql.field(description="…")``) or as ``typing.Annotated`` metadata
(``total: Annotated[Decimal, fraiseql.field(description="…")]``). The exporter reads it; the
value itself means nothing at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any

__all__ = ["FieldSpec", "MISSING", "field", "relation", "federated"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Marks "no default" (``None`` is a real default)."""


@dataclass(frozen=True)
class FieldSpec:
    """Options of one field, argument or input field, as written by the author."""

    description: str | None = None
    deprecated: str | bool | None = None
    graphql_name: str | None = None
    default: Any = MISSING
    #: ``(local_key, remote_key)`` for a field fetched from the target type's own view.
    relation: tuple[str, str | None] | None = None
    #: Where ``federated(database=…)`` says the target lives; checked against the target type.
    database: str | None = None
    #: Only callers with this role / scope may select the field (object fields only).
    requires_role: str | None = None
    requires_scope: str | None = None
    #: A SQL expression computing the field (``{field}`` for a field of the type).
    computed: str | None = None
    #: Apollo Federation ``@requires(fields:)``: what the gateway brings for ``computed``.
    requires: str | None = None
    #: Which helper made it (``field``, ``relation``, ``federated``), for messages.
    helper: str = "field"
    unsupported: dict[str, Any] = dc_field(default_factory=dict)
    #: Mistakes found when the helper was called, reported by ``export_schema``.
    problems: tuple[str, ...] = ()


def field(
    *,
    description: str | None = None,
    deprecated: str | bool | None = None,
    graphql_name: str | None = None,
    default: Any = MISSING,
    requires_role: str | None = None,
    requires_scope: str | None = None,
    computed: str | None = None,
    requires: str | None = None,
    **unsupported: Any,
) -> Any:
    """Options of a field: ``description``, ``deprecated`` (reason, or ``True``),
    ``graphql_name`` and ``requires_role``/``requires_scope`` (object fields only: the caller's
    token must carry that role / scope) and ``default`` (input fields and arguments only).
    ``computed`` (object fields): a SQL expression computing the field, ``{field}`` standing
    for a field of the type; ``requires`` (Apollo Federation ``@requires(fields:)``): the
    other subgraph's fields the gateway brings, which ``computed`` reads from the
    representation."""
    return FieldSpec(
        description=description,
        deprecated=deprecated,
        graphql_name=graphql_name,
        default=default,
        requires_role=requires_role,
        requires_scope=requires_scope,
        computed=computed,
        requires=requires,
        helper="field",
        unsupported=dict(unsupported),
    )


def relation(
    local_key: str,
    remote_key: str | None = None,
    *,
    description: str | None = None,
    deprecated: str | bool | None = None,
    graphql_name: str | None = None,
) -> Any:
    """A field fetched from the target type's view: rows whose ``remote_key`` (default ``id``)
    equals this row's ``local_key`` (a key of this view's ``data``)."""
    return FieldSpec(
        description=description,
        deprecated=deprecated,
        graphql_name=graphql_name,
        relation=(local_key, remote_key),
        helper="relation",
    )


def federated(
    *,
    database: str | None = None,
    lookup: str | None = None,
    local_key: str | None = None,
    remote_key: str | None = None,
    description: str | None = None,
    deprecated: str | bool | None = None,
    graphql_name: str | None = None,
    **unsupported: Any,
) -> Any:
    """A field fetched from a type that lives in another database (the seed spelling).

    ``database`` names where the target type lives (a key of ``[databases]`` in
    ``fraiseql.toml``); it must equal the target type's own ``database=``, which is what the
    engine reads. ``lookup`` (alias ``local_key``) is the field of this type holding the
    reference; ``remote_key`` the target's field it matches (default ``id``). Both must be
    declared fields whose values compare alike once they have left their databases (text
    with text, numbers with numbers). The export is the same ``relation`` as
    :func:`relation`'s; ``export_schema`` checks all of this. Runtime tuning options of the
    seed (``batch_size``, ``timeout``, …) have no place in ``schema.json`` and are reported.
    """
    problems: list[str] = []
    if database is None:
        problems.append(
            "federated() needs database= (where the target type lives, a [databases.<name>] "
            "of fraiseql.toml); use fraiseql.relation() for a type in this type's database"
        )
    if lookup is not None and local_key is not None and lookup != local_key:
        problems.append(f"federated() got lookup={lookup!r} and local_key={local_key!r}; give one")
    key = lookup if lookup is not None else local_key
    if key is None:
        problems.append("federated() needs lookup= (the field of this type holding the reference)")
    return FieldSpec(
        description=description,
        deprecated=deprecated,
        graphql_name=graphql_name,
        relation=(key or "", remote_key),
        database=database,
        helper="federated",
        unsupported=dict(unsupported),
        problems=tuple(problems),
    )

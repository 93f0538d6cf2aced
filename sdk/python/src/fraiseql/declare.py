"""The decorators: ``type``, ``input``, ``enum``, ``query``, ``mutation``, ``subscription``.

Each works bare (``@fraiseql.type``) or called (``@fraiseql.type(database="inventory")``),
records the class or function in the registry and returns it unchanged. Options that
``schema.json`` has no place for are kept and reported by ``export_schema``, so one export
lists every problem instead of failing at the first import.
"""

from __future__ import annotations

import builtins
import enum as _enum
from typing import Any, Callable, TypeVar

from .registry import declare_operation, declare_type

__all__ = ["type", "input", "enum", "query", "mutation", "subscription", "field_resolver"]

T = TypeVar("T")


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _class_decorator(kind: str, target: Any, options: dict[str, Any], unsupported: dict[str, Any]):
    def wrap(cls: T) -> T:
        if not isinstance(cls, builtins.type):
            raise TypeError(f"@fraiseql.{kind} decorates a class, got {cls!r}")
        return declare_type(kind, cls, options, unsupported)

    return wrap(target) if target is not None else wrap


def type(  # noqa: A001 - the public name is fraiseql.type, as in the seeds
    cls: Any = None,
    /,
    *,
    database: str | None = None,
    sql_source: str | None = None,
    key_fields: list[str] | str | None = None,
    keys: list[str] | None = None,
    description: str | None = None,
    requires_role: str | None = None,
    requires_scope: str | None = None,
    shareable: bool | None = None,
    inaccessible: bool | None = None,
    tags: list[str] | None = None,
    **unsupported: Any,
) -> Any:
    """An output object type read from a view with a JSON ``data`` column.

    Fields come from the class annotations (``data`` keys, snake_case). ``sql_source``
    defaults to ``v_<snake_case name>``, ``database`` to ``primary``, ``key_fields`` to
    ``["id"]`` (all resolved by the engine), ``description`` to the class docstring.
    Apollo Federation: ``keys`` lists the entity's keys as ``@key(fields:)`` writes them
    (``["id", "sku variation { id }"]``); ``shareable``, ``inaccessible`` and ``tags`` are
    its composition directives.
    """
    options = _given(
        database=database,
        sql_source=sql_source,
        key_fields=key_fields,
        keys=keys,
        description=description,
        requires_role=requires_role,
        requires_scope=requires_scope,
        shareable=shareable,
        inaccessible=inaccessible,
        tags=tags,
    )
    return _class_decorator("type", cls, options, unsupported)


def input(  # noqa: A001 - the public name is fraiseql.input
    cls: Any = None, /, *, description: str | None = None, **unsupported: Any
) -> Any:
    """A GraphQL input object. Class attribute values are field defaults."""
    return _class_decorator("input", cls, _given(description=description), unsupported)


def enum(
    cls: Any = None,
    /,
    *,
    description: str | None = None,
    descriptions: dict[str, str] | None = None,
    deprecated: dict[str, str] | None = None,
    **unsupported: Any,
) -> Any:
    """A GraphQL enum from a Python ``Enum``: member name = GraphQL name, member value = the
    value the database stores. ``descriptions``/``deprecated`` map member names to text."""
    options = _given(description=description, descriptions=descriptions, deprecated=deprecated)

    def wrap(target: T) -> T:
        if not (isinstance(target, builtins.type) and issubclass(target, _enum.Enum)):
            raise TypeError(f"@fraiseql.enum decorates an enum.Enum subclass, got {target!r}")
        return declare_type("enum", target, options, unsupported)

    return wrap(cls) if cls is not None else wrap


def _function_decorator(kind: str, target: Any, options: dict[str, Any], unsupported: dict[str, Any]):
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn) or isinstance(fn, builtins.type):
            raise TypeError(f"@fraiseql.{kind} decorates a function, got {fn!r}")
        return declare_operation(kind, fn, options, unsupported)

    if target is None:
        return wrap
    if isinstance(target, str):
        # Seed-era `fraiseql.query("{ … }")` executed GraphQL in-process; nothing runs Python
        # at request time here, so say where to go instead of failing obscurely later.
        raise TypeError(
            f"fraiseql.{kind}() decorates a function; to run a GraphQL document from Python use "
            "fraiseql.testing.FraiseQLTestClient against a running server"
        )
    return wrap(target)


def query(
    fn: Any = None,
    /,
    *,
    sql_source: str | None = None,
    database: str | None = None,
    cache_ttl_seconds: int | None = None,
    cache_ttl: int | None = None,
    relay: bool | None = None,
    auto_params: bool | dict[str, bool] | None = None,
    description: str | None = None,
    deprecated: str | bool | None = None,
    requires_role: str | None = None,
    requires_scope: str | None = None,
    inject: dict[str, str] | None = None,
    **unsupported: Any,
) -> Any:
    """A root query field. Name = function name; arguments = parameters (Python defaults
    become GraphQL defaults); result = return annotation.

    Options may be given here or returned from a bare stub as
    ``return fraiseql.config(sql_source=…)``. ``cache_ttl`` is an alias of
    ``cache_ttl_seconds``. ``inject={"owner_id": "jwt:sub"}`` filters on ``owner_id`` with the
    caller's verified ``sub`` claim (never a client argument).
    """
    options = _given(
        sql_source=sql_source,
        database=database,
        cache_ttl_seconds=cache_ttl_seconds,
        cache_ttl=cache_ttl,
        relay=relay,
        auto_params=auto_params,
        description=description,
        deprecated=deprecated,
        requires_role=requires_role,
        requires_scope=requires_scope,
        inject=inject,
    )
    return _function_decorator("query", fn, options, unsupported)


def mutation(
    fn: Any = None,
    /,
    *,
    sql_source: str | None = None,
    operation: str | None = None,
    database: str | None = None,
    description: str | None = None,
    deprecated: str | bool | None = None,
    sql_function: str | None = None,
    fn_name: str | None = None,
    requires_role: str | None = None,
    requires_scope: str | None = None,
    inject: dict[str, str] | None = None,
    **unsupported: Any,
) -> Any:
    """A root mutation backed by the SQL function ``sql_source`` (required; ``sql_function``
    and ``fn_name`` are seed-era aliases). ``operation`` is ``CREATE``/``UPDATE``/``DELETE``/
    ``CUSTOM``. ``inject={"user_id": "jwt:sub"}`` passes the caller's verified claim to the
    function's ``user_id`` parameter, after the client's arguments. The function body is
    never run."""
    options = _given(
        sql_source=sql_source,
        operation=operation,
        database=database,
        description=description,
        deprecated=deprecated,
        sql_function=sql_function,
        fn_name=fn_name,
        requires_role=requires_role,
        requires_scope=requires_scope,
        inject=inject,
    )
    return _function_decorator("mutation", fn, options, unsupported)


def subscription(
    fn: Any = None,
    /,
    *,
    entity_type: str | None = None,
    topic: str | None = None,
    operation: str | None = None,
    description: str | None = None,
    event: str | None = None,
    requires_role: str | None = None,
    requires_scope: str | None = None,
    **unsupported: Any,
) -> Any:
    """A root subscription fed by events on ``topic`` (a NATS subject). ``entity_type`` is
    re-read for each event (default: the return type); ``operation`` is ``INSERT``/
    ``UPDATE``/``DELETE`` (``event`` is an alias; absent means all). Arguments filter events."""
    options = _given(
        entity_type=entity_type,
        topic=topic,
        operation=operation,
        description=description,
        event=event,
        requires_role=requires_role,
        requires_scope=requires_scope,
    )
    return _function_decorator("subscription", fn, options, unsupported)


class FieldResolver:
    """What ``@fraiseql.field_resolver`` leaves in a class body, so export can explain it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", "?")


def field_resolver(fn: Callable[..., Any]) -> Any:
    """Seed-era per-field Python resolver. Not supported: FraiseQL runs no Python at request
    time. Kept so seed code imports; ``export_schema`` reports it with the declarative
    equivalent (compute the value in the view's ``data`` and declare it as a field)."""
    return FieldResolver(fn)


def entity_resolver(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    entity: str | None = None,
    key_fields: list[str] | str | None = None,
    **unsupported: Any,
) -> Any:
    """Apollo Federation: how the gateway finds an ``entity`` (a ``@fraiseql.type``) by key.

    ``@fraiseql.entity_resolver(entity="User", key_fields=["id"]) def resolve_user(id: str)
    -> User: pass`` declares the key ``id`` of ``User``: the export adds it to the type's
    ``keys``, and ``_entities`` reads the type's view by it. The function's parameters name
    the key fields; its body never runs (FraiseQL runs no Python at request time).
    """
    options = _given(entity=entity, key_fields=key_fields)

    def wrap(f: Callable[..., Any]) -> Any:
        return declare_operation("entity_resolver", f, options, unsupported)

    return wrap(fn) if fn is not None else wrap


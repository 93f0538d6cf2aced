"""Markers that keep seed-style code importable, and ``fraiseql.config``.

FraiseQL runs no Python at request time, so a context object is never passed to anything.
The classes exist so that ``from fraiseql import TenantContext`` works and so the exporter can
recognise a ``ctx: TenantContext`` parameter as "not a GraphQL argument".
``fraiseql.config(...)`` is what a bare ``@fraiseql.query`` stub returns to set its options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Context", "TenantContext", "StubConfig", "config"]


class Context:
    """Base marker for a request context parameter. Subclass it for your own context type.

    A query, mutation or subscription parameter annotated with a ``Context`` subclass is left
    out of the GraphQL arguments. Nothing ever instantiates it.
    """


class TenantContext(Context):
    """Marker for the seed's tenant context (``ctx: TenantContext``); see :class:`Context`.

    The tenant comes from the request (``X-Tenant-ID`` header / JWT claim) and is applied by
    the engine, e.g. as row-level security; a view or SQL function reads it from the session.
    """


@dataclass(frozen=True)
class StubConfig:
    """Options returned by a stub body: ``return fraiseql.config(sql_source="v_order")``."""

    options: dict[str, Any]
    unsupported: dict[str, Any] = field(default_factory=dict)


def config(
    *,
    sql_source: str | None = None,
    database: str | None = None,
    cache_ttl_seconds: int | None = None,
    cache_ttl: int | None = None,
    relay: bool | None = None,
    auto_params: bool | dict[str, bool] | None = None,
    operation: str | None = None,
    description: str | None = None,
    deprecated: str | bool | None = None,
    **unsupported: Any,
) -> StubConfig:
    """Options for the query (or mutation) whose body returns this.

    Accepts the same keywords as the decorator; ``cache_ttl`` is an alias of
    ``cache_ttl_seconds``. Unknown keywords are reported by ``export_schema``.
    """
    given = {
        "sql_source": sql_source,
        "database": database,
        "cache_ttl_seconds": cache_ttl_seconds,
        "cache_ttl": cache_ttl,
        "relay": relay,
        "auto_params": auto_params,
        "operation": operation,
        "description": description,
        "deprecated": deprecated,
    }
    return StubConfig({k: v for k, v in given.items() if v is not None}, dict(unsupported))

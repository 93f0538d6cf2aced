"""FraiseQL Python SDK: declare a GraphQL schema over SQL views and export ``schema.json``.

Python is the authoring language only. The decorators record declarations;
:func:`export_schema` checks them all and writes the document the engine compiles
(``docs/schema.md``). Function bodies never run at request time.
"""

from __future__ import annotations

from . import scalars
from .context import Context, TenantContext, config
from .declare import (
    entity_resolver,
    enum,
    field_resolver,
    input,
    mutation,
    query,
    subscription,
    type,
)
from .errors import SchemaError
from .export import export_schema, schema_dict
from .fields import FieldSpec, federated, field, relation
from .registry import reset_registry

__version__ = "0.1.0"

__all__ = [
    "Context",
    "FieldSpec",
    "SchemaError",
    "TenantContext",
    "__version__",
    "config",
    "entity_resolver",
    "enum",
    "export_schema",
    "federated",
    "field",
    "field_resolver",
    "input",
    "mutation",
    "query",
    "relation",
    "reset_registry",
    "scalars",
    "schema_dict",
    "subscription",
    "type",
]

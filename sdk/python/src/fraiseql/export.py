"""Export: turn the registry into the ``schema.json`` document (docs/schema.md).

Every declaration is checked here, after all modules have run, so forward references resolve
and one :class:`SchemaError` lists every mistake. The output holds only keys the engine's
``SchemaInput`` accepts (it denies unknown fields); defaults the engine resolves itself
(``sql_source``, ``database``, ``key_fields``) are emitted only when given.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import json
import math
import os
import re
import typing
import uuid
from dataclasses import dataclass
from typing import Any

from .context import Context
from .declare import FieldResolver
from .errors import SchemaError
from .fields import MISSING, FieldSpec
from .registry import REGISTRY, TYPE_KINDS, Declaration, Registry, module_namespace
from .stub import StubError, read_stub_config
from .typeref import AnnotationError, Resolver, TypeRef

__all__ = ["schema_dict", "export_schema"]

SCHEMA_VERSION = 1
BUILTIN_SCALARS = ("ID", "UUID", "String", "Int", "Float", "Boolean", "DateTime", "Date", "Decimal", "JSON")
MUTATION_OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CUSTOM")
SUBSCRIPTION_OPERATIONS = ("INSERT", "UPDATE", "DELETE")
#: Spellings of subscription operations used by some guides.
SUBSCRIPTION_ALIASES = {"CREATE": "INSERT"}
AUTO_PARAMS = ("where", "order_by", "limit", "offset")
CONTEXT_PARAMETER_NAMES = ("ctx", "info", "context")
DEFAULT_DEPRECATION = "No longer supported"
#: The database a type lives in when it names none (the engine's default too).
DEFAULT_DATABASE = "primary"
#: How a key compares once it has left its database (the engine's rule for relations across
#: databases): these scalars as text, these as numbers, anything else only with itself.
_TEXT_KEYS = ("ID", "UUID", "String")
_NUMBER_KEYS = ("Int", "Float", "Decimal")

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_SQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z$]*(\.[_A-Za-z][_0-9A-Za-z$]*)?$")

#: Why some seed-era options are rejected, so the message says where they went.
_UNSUPPORTED_HINTS = {
    "filter": "declare the filter as an argument of the subscription",
}


def schema_dict(registry: Registry | None = None) -> dict[str, Any]:
    """The ``schema.json`` document of every declaration so far; raises :class:`SchemaError`."""
    return _Exporter(registry or REGISTRY).run()


def export_schema(path: str | os.PathLike[str] | None = "schema.json", *, indent: int = 2) -> dict[str, Any]:
    """Write ``schema.json`` (to ``path``; ``None`` writes nothing) and return the document."""
    document = schema_dict()
    if path is not None:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=indent, ensure_ascii=False)
            out.write("\n")
    return document


def camel_case(name: str) -> str:
    """The GraphQL name the engine derives from a snake_case name (``created_at`` → ``createdAt``)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _Exporter:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.problems: list[str] = []
        self.names: dict[str, Declaration] = {}
        for decl in registry.declarations:
            if decl.kind not in TYPE_KINDS:
                continue
            first = self.names.get(decl.name)
            if first is not None:
                self.problem(
                    f"duplicate name {decl.name!r}: {first.label} ({first.origin}) and "
                    f"{decl.label} ({decl.origin})"
                )
                continue
            self.names[decl.name] = decl
        self.resolver = Resolver(self._lookup, {n: d.obj for n, d in self.names.items()})
        #: Relation fields whose keys and database are checked once every type is built.
        self.relations: list[_RelationField] = []

    # -- driver ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        for decl in self.names.values():
            self.check_name(decl.label, decl.name)
            if decl.name in BUILTIN_SCALARS:
                self.problem(f"{decl.label}: {decl.name!r} is a built-in scalar name")
        types = [self.object_type(d) for d in self._declared("type")]
        self.check_relations(types)
        self.entity_resolvers(types)
        document = {
            "version": SCHEMA_VERSION,
            "types": types,
            "input_types": [self.input_type(d) for d in self._declared("input")],
            "enums": [self.enum_type(d) for d in self._declared("enum")],
            "queries": self.operations("query", self.query),
            "mutations": self.operations("mutation", self.mutation),
            "subscriptions": self.operations("subscription", self.subscription),
        }
        if self.problems:
            raise SchemaError(self.problems)
        return document

    def _declared(self, kind: str) -> list[Declaration]:
        return [d for d in self.names.values() if d.kind == kind]

    def operations(self, kind: str, render: Any) -> list[dict[str, Any]]:
        seen: dict[str, Declaration] = {}
        out = []
        for decl in self.registry.of_kind(kind):
            graphql = camel_case(decl.name)
            if graphql in seen:
                first = seen[graphql]
                self.problem(
                    f"duplicate {kind} {graphql!r}: {first.name} ({first.origin}) and "
                    f"{decl.name} ({decl.origin})"
                )
                continue
            seen[graphql] = decl
            self.check_name(decl.label, decl.name)
            out.append(render(decl))
        return out

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def entity_resolvers(self, types: list[dict[str, Any]]) -> None:
        """Each ``@fraiseql.entity_resolver`` adds its key to its entity type's ``keys``."""
        for decl in self.registry.of_kind("entity_resolver"):
            where = f"entity_resolver {decl.name}"
            self.report_unsupported(where, decl.unsupported)
            entity = decl.options.get("entity")
            ty = next((t for t in types if t["name"] == entity), None)
            if not isinstance(entity, str) or ty is None:
                self.problem(f"{where}: entity= must name a @fraiseql.type (got {entity!r})")
                continue
            keys = decl.options.get("key_fields", ["id"])
            if isinstance(keys, str):
                keys = [keys]
            if not isinstance(keys, (list, tuple)) or not keys or not all(isinstance(k, str) and k for k in keys):
                self.problem(f"{where}: key_fields must be a non-empty list of field names")
                continue
            fields = {f["name"] for f in ty["fields"]}
            for key in keys:
                if key not in fields:
                    self.problem(f"{where}: key field {key!r} is not a field of {entity}")
            params = [
                p.name
                for p in inspect.signature(decl.obj).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)
            ]
            if sorted(params) != sorted(keys):
                self.problem(
                    f"{where}: its parameters ({', '.join(params) or 'none'}) must be the key "
                    f"fields ({', '.join(keys)})"
                )
            returned = inspect.signature(decl.obj).return_annotation
            name = returned if isinstance(returned, str) else getattr(returned, "__name__", None)
            if returned is not inspect.Signature.empty and name != entity:
                self.problem(f"{where}: it returns {name!r}, not {entity!r}")
            key = " ".join(camel_case(k) for k in keys)
            declared = ty.setdefault("keys", [])
            if not declared:
                # The type's own key stays one of its keys.
                own = ty.get("key_fields", ["id"])
                if all(k in fields for k in own):
                    declared.append(" ".join(camel_case(k) for k in own))
            if key not in declared:
                declared.append(key)

    def _lookup(self, obj: Any) -> tuple[str, str] | None:
        decl = self.registry.find(obj)
        return (decl.name, decl.kind) if decl is not None else None

    # -- object, input and enum types -----------------------------------------------------

    def object_type(self, decl: Declaration) -> dict[str, Any]:
        cls, options = decl.obj, decl.options
        out: dict[str, Any] = {"name": decl.name}
        self.put_text(out, "description", options.get("description", _docstring(cls)), decl.label)
        self.put_sql_name(out, "sql_source", options.get("sql_source"), decl.label)
        self.put_database(out, options.get("database"), decl.label)
        self.put_access(out, options, decl.label)
        self.report_unsupported(decl.label, decl.unsupported)
        self.report_field_resolvers(decl)

        fields = []
        graphql_names: dict[str, str] = {}
        declared = _class_fields(cls, decl.namespace)
        for name, annotation, namespace, default in declared:
            where = f"{decl.label}.{name}"
            field = self.object_field(decl.name, where, name, annotation, namespace, default)
            if field is None:
                continue
            graphql = field.get("graphql_name", camel_case(name))
            if graphql in graphql_names:
                self.problem(
                    f"{where}: GraphQL name {graphql!r} is also the name of field {graphql_names[graphql]!r}"
                )
            graphql_names[graphql] = name
            fields.append(field)
        if not declared:
            self.problem(f"{decl.label}: has no fields (annotate at least one attribute)")

        key_fields = options.get("key_fields")
        if key_fields is not None:
            if isinstance(key_fields, str):
                key_fields = key_fields.replace(",", " ").split()
            if (
                not isinstance(key_fields, (list, tuple))
                or not key_fields
                or not all(isinstance(k, str) for k in key_fields)
            ):
                self.problem(f"{decl.label}: key_fields must be a non-empty list of field names")
            else:
                known = {f["name"] for f in fields}
                for key in key_fields:
                    if key not in known:
                        self.problem(f"{decl.label}: key field {key!r} is not a field of the type")
                out["key_fields"] = list(key_fields)
        keys = options.get("keys")
        if keys is not None:
            if (
                not isinstance(keys, (list, tuple))
                or not keys
                or not all(isinstance(k, str) and k.strip() for k in keys)
            ):
                self.problem(f"{decl.label}: keys must be a non-empty list of field sets (\"id\", \"sku variation {{ id }}\")")
            else:
                out["keys"] = list(keys)
        federation = self.composition(decl.label, options)
        if federation:
            out["federation"] = federation
        out["fields"] = fields
        return out

    def composition(self, where: str, options: dict[str, Any]) -> dict[str, Any]:
        """``shareable``, ``inaccessible`` and ``tags`` as schema.json's ``federation``."""
        out: dict[str, Any] = {}
        for flag in ("shareable", "inaccessible"):
            value = options.get(flag)
            if value is None:
                continue
            if not isinstance(value, bool):
                self.problem(f"{where}: {flag} must be True or False")
            elif value:
                out[flag] = True
        tags = options.get("tags")
        if tags is not None:
            if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) and t for t in tags):
                self.problem(f"{where}: tags must be a list of non-empty strings")
            elif tags:
                out["tags"] = list(tags)
        return out

    def object_field(
        self, owner: str, where: str, name: str, annotation: Any, namespace: dict[str, Any], default: Any
    ) -> dict[str, Any] | None:
        self.check_name(where, name)
        ref = self.resolve(where, annotation, namespace)
        if ref is None:
            return None
        spec = self.field_spec(where, ref, default)
        out: dict[str, Any] = {"name": name, "type": ref.text}
        if ref.kind == "input":
            self.problem(
                f"{where}: {ref.base} is an input type; object fields take @fraiseql.type, "
                "enum or scalar types"
            )
        if spec is None:
            return out
        self.put_text(out, "description", spec.description, where)
        self.put_deprecated(out, spec.deprecated, where)
        if spec.graphql_name is not None:
            if self.check_name(where, spec.graphql_name, what="graphql_name"):
                out["graphql_name"] = spec.graphql_name
        if spec.default is not MISSING:
            self.problem(f"{where}: default= applies to input fields and arguments, not object fields")
        self.put_access(out, {"requires_role": spec.requires_role, "requires_scope": spec.requires_scope}, where)
        for key, value in (("computed", spec.computed), ("requires", spec.requires)):
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                self.problem(f"{where}: {key} must be a non-empty string")
            elif key == "computed":
                out["computed"] = value
            else:
                out["federation"] = {"requires": value}
        if spec.requires is not None and spec.computed is None:
            self.problem(f"{where}: requires= needs computed=, the SQL that computes the field")
        if spec.relation is not None:
            relation = self.relation(owner, where, ref, spec)
            if relation is not None:
                out["relation"] = relation
        return out

    def relation(self, owner: str, where: str, ref: TypeRef, spec: FieldSpec) -> dict[str, Any] | None:
        """The field's ``relation`` object; its keys and database are checked later, in
        :meth:`check_relations`, once every type's fields are known."""
        helper = f"fraiseql.{spec.helper}()"
        federated = spec.helper == "federated"
        if ref.kind != "type":
            if federated:
                home = f" in database {spec.database!r}" if isinstance(spec.database, str) else ""
                self.problem(
                    f"{where}: {helper} reads a @fraiseql.type from its own view{home}, but the "
                    f"field's type is {ref.text} (a{'n' if ref.kind[0] in 'aeiou' else ''} "
                    f"{ref.kind}, which has no view)"
                )
            else:
                self.problem(f"{where}: {helper} needs a @fraiseql.type field, but the type is {ref.text}")
            return None
        local_key, remote_key = spec.relation or ("", None)
        if local_key == "" or local_key is None:
            if not spec.problems:  # else the helper has said what is missing
                self.problem(f"{where}: {helper} needs a non-empty local key")
            return None
        out: dict[str, Any] = {}
        if self.check_name(where, local_key, what="lookup" if federated else "local key"):
            out["local_key"] = local_key
        if remote_key is not None and self.check_name(where, remote_key, what="remote_key"):
            out["remote_key"] = remote_key
        if federated and spec.database is not None:
            self.check_database_name(where, spec.database, "fraiseql.federated() database")
        if "local_key" not in out:
            return None
        if remote_key is not None and "remote_key" not in out:
            return out  # a bad remote_key, reported: nothing more to check against it
        self.relations.append(
            _RelationField(owner, where, spec, ref.base, local_key, out.get("remote_key", "id"))
        )
        return out

    def check_relations(self, types: list[dict[str, Any]]) -> None:
        """What a relation needs of both ends, once every type is built.

        For every relation whose ends live in different databases, the keys (when both are
        declared) must compare alike, as the engine requires. For ``federated()``, also: its
        ``database`` is where the target type lives, and ``lookup``/``remote_key`` are declared
        fields (the engine reads any ``data`` key, but across databases an undeclared key can
        neither be checked nor caught when misspelt).
        """
        emitted = {t["name"]: t for t in types}
        homes = {name: t.get("database", DEFAULT_DATABASE) for name, t in emitted.items()}
        for r in self.relations:
            owner, target = emitted.get(r.owner), emitted.get(r.target)
            if owner is None or target is None:
                continue  # a duplicate name, already reported
            here, there = homes[r.owner], homes[r.target]
            federated = r.spec.helper == "federated"
            database = r.spec.database
            named = isinstance(database, str) and _NAME.match(database) is not None
            if federated and named and database != there:
                known = sorted(set(homes.values()))
                unknown = (
                    ""
                    if database in known
                    else f"; no @fraiseql.type lives in {database!r} (this schema's databases: "
                    f"{', '.join(known)})"
                )
                self.problem(
                    f"{r.where}: fraiseql.federated() says database={database!r} but {r.target} lives "
                    f"in database {there!r}{unknown}. The target type's @fraiseql.type(database=…) "
                    "decides where it is read: fix whichever is wrong"
                )
            local = self.key_type(
                r.where, owner, r.local_key, "lookup" if federated else "local key", required=federated
            )
            remote = self.key_type(
                r.where,
                target,
                r.remote_key,
                "remote_key",
                required=federated,
                default=r.spec.relation is not None and r.spec.relation[1] is None,
            )
            if local and remote and here != there and _key_class(local) != _key_class(remote):
                self.problem(
                    f"{r.where}: {r.owner}.{r.local_key} ({local}, database {here!r}) cannot match "
                    f"{r.target}.{r.remote_key} ({remote}, database {there!r}): keys across databases "
                    "must both be text (ID, UUID, String) or both numbers (Int, Float, Decimal)"
                )

    def key_type(
        self, where: str, owner: dict[str, Any], key: str, what: str, *, required: bool, default: bool = False
    ) -> str | None:
        """The scalar or enum type name of ``owner``'s field ``key``, or ``None``: reported
        when ``required`` and the key is not a plain field holding one value."""
        name = owner["name"]
        field = next((f for f in owner["fields"] if f["name"] == key), None)
        shown = f"{what}={key!r}" + (" (the default)" if default else "")
        if field is None:
            if required:
                plain = [f["name"] for f in owner["fields"] if "relation" not in f]
                close = [f for f in plain if camel_case(f) == key or f.replace("_", "") == key.lower()]
                hint = (
                    f"; did you mean {close[0]!r}? (keys are the snake_case keys of the view's data)"
                    if close
                    else f" (its fields: {', '.join(plain)})"
                )
                self.problem(f"{where}: {shown} is not a field of {name}{hint}")
            return None
        base = field["type"].strip("[]!")
        declared = self.names.get(base)
        problem = None
        if "relation" in field:
            problem = "is a relation, not a key"
        elif field["type"].lstrip().startswith("["):
            problem = f"is a list ({field['type']}); a key holds one value"
        elif declared is not None and declared.kind == "type":
            problem = f"is an object ({field['type']}); a key is a scalar or enum field"
        if problem is not None:
            if required:
                self.problem(f"{where}: {shown}: {name}.{key} {problem}")
            return None
        return base

    def input_type(self, decl: Declaration) -> dict[str, Any]:
        cls = decl.obj
        out: dict[str, Any] = {"name": decl.name}
        self.put_text(out, "description", decl.options.get("description", _docstring(cls)), decl.label)
        self.report_unsupported(decl.label, decl.unsupported)
        self.report_field_resolvers(decl)
        fields = []
        declared = _class_fields(cls, decl.namespace)
        for name, annotation, namespace, default in declared:
            argument = self.argument(f"{decl.label}.{name}", name, annotation, namespace, default)
            if argument is not None:
                fields.append(argument)
        if not declared:
            self.problem(f"{decl.label}: has no fields (annotate at least one attribute)")
        out["fields"] = fields
        return out

    def enum_type(self, decl: Declaration) -> dict[str, Any]:
        cls = decl.obj
        out: dict[str, Any] = {"name": decl.name}
        self.put_text(out, "description", decl.options.get("description", _docstring(cls)), decl.label)
        self.report_unsupported(decl.label, decl.unsupported)
        descriptions = decl.options.get("descriptions", {})
        deprecated = decl.options.get("deprecated", {})
        members = list(cls)
        for option, mapping in (("descriptions", descriptions), ("deprecated", deprecated)):
            for key in mapping:
                if key not in cls.__members__:
                    self.problem(f"{decl.label}: {option} names {key!r}, which is not a member")
        values = []
        for member in members:
            where = f"{decl.label}.{member.name}"
            self.check_name(where, member.name)
            value: dict[str, Any] = {"name": member.name}
            stored = member.value
            if isinstance(stored, str):
                value["value"] = stored
            elif isinstance(stored, int) and not isinstance(stored, bool):
                # schema.json stores values as strings; the engine compares them as text.
                value["value"] = str(stored)
            else:
                self.problem(f"{where}: value {stored!r} is not a string (the value the database stores)")
            self.put_text(value, "description", descriptions.get(member.name), where)
            self.put_deprecated(value, deprecated.get(member.name), where)
            values.append(value)
        if not values:
            self.problem(f"{decl.label}: has no members")
        out["values"] = values
        return out

    # -- queries, mutations, subscriptions ------------------------------------------------

    def query(self, decl: Declaration) -> dict[str, Any]:
        options = self.merged_options(decl)
        out: dict[str, Any] = {"name": decl.name}
        returns = self.return_type(decl, out)
        self.put_text(out, "description", options.get("description", _docstring(decl.obj)), decl.label)
        self.put_deprecated(out, options.get("deprecated"), decl.label)
        self.put_sql_name(out, "sql_source", options.get("sql_source"), decl.label)
        self.put_database(out, options.get("database"), decl.label)
        relay = options.get("relay")
        if relay is not None:
            if not isinstance(relay, bool):
                self.problem(f"{decl.label}: relay must be True or False, got {relay!r}")
            else:
                out["relay"] = relay
                if relay and returns is not None and not returns.is_list:
                    self.problem(f"{decl.label}: relay=True needs a list return type, got {returns.text}")
        if "auto_params" in options:
            auto = self.auto_params(decl.label, options["auto_params"])
            if auto is not None:
                out["auto_params"] = auto
        ttl = self.cache_ttl(decl.label, options)
        if ttl is not None:
            out["cache_ttl_seconds"] = ttl
        self.put_access(out, options, decl.label)
        arguments = self.arguments(decl)
        if arguments:
            out["arguments"] = arguments
        self.put_inject(out, options, decl.label)
        return out

    def mutation(self, decl: Declaration) -> dict[str, Any]:
        options = self.merged_options(decl)
        out: dict[str, Any] = {"name": decl.name}
        self.return_type(decl, out)
        source = None
        for alias in ("sql_source", "sql_function", "fn_name"):
            given = options.get(alias)
            if given is None:
                continue
            if source is not None and given != source:
                self.problem(f"{decl.label}: {alias}={given!r} conflicts with sql_source={source!r}")
            source = given
        if source is None:
            self.problem(
                f"{decl.label}: missing sql_source (the SQL function to call, e.g. "
                f'@fraiseql.mutation(sql_source="fn_{decl.name}"))'
            )
        else:
            self.put_sql_name(out, "sql_source", source, decl.label)
        self.put_database(out, options.get("database"), decl.label)
        self.put_choice(out, "operation", options.get("operation"), MUTATION_OPERATIONS, decl.label)
        self.put_text(out, "description", options.get("description", _docstring(decl.obj)), decl.label)
        self.put_deprecated(out, options.get("deprecated"), decl.label)
        for key in ("relay", "auto_params", "cache_ttl", "cache_ttl_seconds"):
            if key in options:
                self.problem(f"{decl.label}: {key} applies to queries, not mutations")
        self.put_access(out, options, decl.label)
        arguments = self.arguments(decl)
        if arguments:
            out["arguments"] = arguments
        self.put_inject(out, options, decl.label)
        return out

    def subscription(self, decl: Declaration) -> dict[str, Any]:
        options = decl.options
        out: dict[str, Any] = {"name": decl.name}
        self.return_type(decl, out)
        self.report_unsupported(decl.label, decl.unsupported)
        self.put_access(out, options, decl.label)
        entity = options.get("entity_type")
        if entity is not None:
            if not isinstance(entity, str):
                found = self._lookup(entity)
                entity = found[0] if found else getattr(entity, "__name__", repr(entity))
            target = self.names.get(entity)
            if target is None or target.kind != "type":
                self.problem(f"{decl.label}: entity_type {entity!r} is not a @fraiseql.type")
            else:
                out["entity_type"] = entity
        topic = options.get("topic")
        if topic is not None:
            if not isinstance(topic, str) or not topic.strip():
                self.problem(f"{decl.label}: topic must be a non-empty string (a NATS subject)")
            else:
                out["topic"] = topic
        operation = options.get("operation")
        event = options.get("event")
        if operation is not None and event is not None and str(operation).upper() != str(event).upper():
            self.problem(f"{decl.label}: operation={operation!r} conflicts with event={event!r}")
        operation = operation if operation is not None else event
        if isinstance(operation, str):
            operation = SUBSCRIPTION_ALIASES.get(operation.upper(), operation)
        self.put_choice(out, "operation", operation, SUBSCRIPTION_OPERATIONS, decl.label)
        self.put_text(out, "description", options.get("description", _docstring(decl.obj)), decl.label)
        arguments = self.arguments(decl)
        if arguments:
            out["arguments"] = arguments
        return out

    def merged_options(self, decl: Declaration) -> dict[str, Any]:
        """Decorator options plus those a stub body returns via ``fraiseql.config``."""
        options = dict(decl.options)
        self.report_unsupported(decl.label, decl.unsupported)
        try:
            stub = read_stub_config(decl.obj)
        except StubError as exc:
            self.problem(f"{decl.label}: cannot read fraiseql.config() from the body: {exc}")
            return options
        if stub is None:
            return options
        self.report_unsupported(decl.label, stub.unsupported, where="fraiseql.config()")
        for key, value in stub.options.items():
            if key in options and options[key] != value:
                self.problem(
                    f"{decl.label}: {key} is {options[key]!r} in the decorator but {value!r} in "
                    "fraiseql.config(); give it once"
                )
            options[key] = value
        return options

    def return_type(self, decl: Declaration, out: dict[str, Any]) -> TypeRef | None:
        fn = decl.obj
        annotation = getattr(fn, "__annotations__", {}).get("return", inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty or annotation is None:
            self.problem(f"{decl.label}: missing return annotation (e.g. -> list[Order])")
            return None
        where = f"{decl.label}: return type"
        ref = self.resolve(where, annotation, decl.namespace)
        if ref is None:
            return None
        if ref.kind != "type":
            self.problem(
                f"{decl.label}: returns {ref.text}, which is not a @fraiseql.type "
                f"(a {decl.kind} returns object types)"
            )
            return None
        out["return_type"] = ref.text
        return ref

    def arguments(self, decl: Declaration) -> list[dict[str, Any]]:
        fn = decl.obj
        try:
            parameters = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError) as exc:
            self.problem(f"{decl.label}: cannot read its parameters: {exc}")
            return []
        out = []
        for index, p in enumerate(parameters):
            where = f"{decl.label}({p.name})"
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                self.problem(f"{where}: *args/**kwargs cannot be GraphQL arguments")
                continue
            if self.is_context(index, p, decl.namespace):
                continue
            if p.annotation is inspect.Parameter.empty:
                self.problem(f"{where}: missing annotation")
                continue
            default = MISSING if p.default is inspect.Parameter.empty else p.default
            argument = self.argument(where, p.name, p.annotation, decl.namespace, default)
            if argument is not None:
                out.append(argument)
        return out

    def is_context(self, index: int, p: inspect.Parameter, namespace: dict[str, Any]) -> bool:
        """A request-context parameter, which is not a GraphQL argument: one annotated with a
        ``fraiseql.Context`` subclass, or a first parameter named ``ctx``/``info``/``context``."""
        if index == 0 and p.name in CONTEXT_PARAMETER_NAMES:
            return True
        if p.annotation is inspect.Parameter.empty:
            return False
        try:
            annotation = self.resolver._evaluate(p.annotation, namespace)
        except AnnotationError:
            return False
        return (
            isinstance(annotation, type)
            and typing.get_origin(annotation) is None
            and issubclass(annotation, Context)
        )

    def argument(
        self, where: str, name: str, annotation: Any, namespace: dict[str, Any], default: Any
    ) -> dict[str, Any] | None:
        """An argument or input field (same shape in ``schema.json``)."""
        self.check_name(where, name)
        ref = self.resolve(where, annotation, namespace)
        if ref is None:
            return None
        spec = self.field_spec(where, ref, default)
        out: dict[str, Any] = {"name": name, "type": ref.text}
        if ref.kind == "type":
            self.problem(
                f"{where}: {ref.base} is an object type; arguments and input fields take "
                "@fraiseql.input, enum or scalar types"
            )
        value = default if not isinstance(default, FieldSpec) else MISSING
        if spec is not None:
            if spec.default is not MISSING:
                if value is not MISSING:
                    self.problem(f"{where}: default given twice (Python default and field(default=))")
                value = spec.default
            if spec.graphql_name is not None:
                self.problem(f"{where}: graphql_name applies to object fields only")
            if spec.relation is not None:
                self.problem(f"{where}: fraiseql.{spec.helper}() applies to object fields only")
        if value is not MISSING:
            # A defaulted argument is optional, so it is emitted nullable (`limit: int = 20` →
            # `"type": "Int", "default": 20`, as in docs/schema.md). None is no default at all.
            out["type"] = ref.text.removesuffix("!")
            if value is not None:
                try:
                    out["default"] = _json_default(value, self._lookup)
                except ValueError as exc:
                    self.problem(f"{where}: default {value!r} {exc}")
        if spec is not None:
            self.put_text(out, "description", spec.description, where)
            self.put_deprecated(out, spec.deprecated, where)
        return out

    # -- shared checks --------------------------------------------------------------------

    def resolve(self, where: str, annotation: Any, namespace: dict[str, Any]) -> TypeRef | None:
        try:
            return self.resolver.resolve(annotation, namespace)
        except AnnotationError as exc:
            self.problem(f"{where}: {exc}")
            return None

    def field_spec(self, where: str, ref: TypeRef, default: Any) -> FieldSpec | None:
        """The field's options, from ``Annotated[...]`` metadata or its default value."""
        specs = [m for m in ref.metadata if isinstance(m, FieldSpec)]
        if isinstance(default, FieldSpec):
            specs.append(default)
        if len(specs) > 1:
            self.problem(f"{where}: options given twice (Annotated[...] and a default); give one")
        if not specs:
            return None
        spec = specs[0]
        for message in spec.problems:
            self.problem(f"{where}: {message}")
        self.report_unsupported(where, spec.unsupported, where=f"fraiseql.{spec.helper}()")
        return spec

    def put_access(self, out: dict[str, Any], options: dict[str, Any], label: str) -> None:
        """``requires_role`` / ``requires_scope``: one word each (a token's role or scope)."""
        for key in ("requires_role", "requires_scope"):
            value = options.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not value or any(c.isspace() for c in value):
                self.problem(f"{label}: {key} must be one word (a role or scope name), got {value!r}")
            else:
                out[key] = value

    def put_inject(self, out: dict[str, Any], options: dict[str, Any], label: str) -> None:
        """``inject={"owner_id": "jwt:sub"}``: snake_case keys no argument has, each from a
        claim of the verified token."""
        inject = options.get("inject")
        if inject is None:
            return
        if not isinstance(inject, dict) or not inject:
            self.problem(f"{label}: inject must be a dict such as {{\"owner_id\": \"jwt:sub\"}}, got {inject!r}")
            return
        taken = {a.get("name") for a in out.get("arguments", [])}
        good: dict[str, str] = {}
        for key, source in inject.items():
            if not isinstance(key, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
                self.problem(f"{label}: inject key {key!r} is not a snake_case name")
            elif key in taken:
                self.problem(f"{label}: {key!r} is injected from the token, so it cannot also be a parameter")
            elif (not isinstance(source, str) or not source.startswith("jwt:") or len(source) == 4
                  or any(c.isspace() for c in source)):
                self.problem(f"{label}: inject[{key!r}] must be 'jwt:<claim>' (the verified token is "
                             f"the only source the server trusts), got {source!r}")
            else:
                good[key] = source
        if good:
            out["inject"] = good

    def report_unsupported(self, label: str, unsupported: dict[str, Any], where: str = "") -> None:
        for key in unsupported:
            hint = _UNSUPPORTED_HINTS.get(key, "schema.json has no place for it")
            origin = f" in {where}" if where else ""
            self.problem(f"{label}: unsupported option {key!r}{origin} ({hint})")

    def report_field_resolvers(self, decl: Declaration) -> None:
        for klass in decl.obj.__mro__:
            for attr, value in vars(klass).items():
                if isinstance(value, FieldResolver):
                    self.problem(
                        f"{decl.label}.{attr}: @fraiseql.field_resolver runs Python at request "
                        "time, which FraiseQL never does; compute the value in the view's data "
                        f"and declare it as a field (`{attr}: int`), or expose a view/SQL "
                        "function (see docs/python-sdk.md)"
                    )

    def auto_params(self, label: str, value: Any) -> bool | dict[str, bool] | None:
        if isinstance(value, bool):
            return value
        if isinstance(value, dict):
            out: dict[str, bool] = {}
            for key, flag in value.items():
                normal = "order_by" if key == "orderBy" else key
                if normal not in AUTO_PARAMS:
                    self.problem(f"{label}: auto_params key {key!r} is not one of {', '.join(AUTO_PARAMS)}")
                elif not isinstance(flag, bool):
                    self.problem(f"{label}: auto_params[{key!r}] must be True or False")
                else:
                    out[normal] = flag
            return out
        self.problem(f"{label}: auto_params must be a bool or a dict of bools, got {value!r}")
        return None

    def cache_ttl(self, label: str, options: dict[str, Any]) -> int | None:
        ttl = options.get("cache_ttl_seconds")
        alias = options.get("cache_ttl")
        if ttl is not None and alias is not None and ttl != alias:
            self.problem(f"{label}: cache_ttl={alias!r} conflicts with cache_ttl_seconds={ttl!r}")
        ttl = ttl if ttl is not None else alias
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            self.problem(f"{label}: cache_ttl_seconds must be a whole number of seconds >= 0, got {ttl!r}")
            return None
        return ttl

    def check_name(self, where: str, name: Any, what: str = "name") -> bool:
        if not isinstance(name, str) or not _NAME.match(name) or name.startswith("__"):
            self.problem(
                f"{where}: {what} {name!r} is not a valid GraphQL name "
                "([_A-Za-z][_0-9A-Za-z]*, not starting with __)"
            )
            return False
        return True

    def put_text(self, out: dict[str, Any], key: str, value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.problem(f"{where}: {key} must be a string, got {value!r}")
        elif value:
            out[key] = value

    def put_deprecated(self, out: dict[str, Any], value: Any, where: str) -> None:
        if value is None or value is False:
            return
        if value is True:
            out["deprecated"] = DEFAULT_DEPRECATION
        elif isinstance(value, str) and value.strip():
            out["deprecated"] = value
        else:
            self.problem(f"{where}: deprecated must be a reason string or True, got {value!r}")

    def put_database(self, out: dict[str, Any], value: Any, where: str) -> None:
        if value is not None and self.check_database_name(where, value, "database"):
            out["database"] = value

    def check_database_name(self, where: str, value: Any, what: str) -> bool:
        """A database is named like a ``[databases.<name>]`` table of fraiseql.toml, and the
        engine takes only names made of letters, digits and ``_``."""
        if isinstance(value, str) and _NAME.match(value):
            return True
        self.problem(
            f"{where}: {what} must be a database name like 'primary' or 'crm' (letters, digits "
            f"and _, as in [databases.<name>] of fraiseql.toml), got {value!r}"
        )
        return False

    def put_sql_name(self, out: dict[str, Any], key: str, value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not _SQL_NAME.match(value):
            self.problem(f"{where}: {key} must be an SQL name like 'v_order' or 'app.v_order', got {value!r}")
        else:
            out[key] = value

    def put_choice(
        self, out: dict[str, Any], key: str, value: Any, choices: tuple[str, ...], where: str
    ) -> None:
        if value is None:
            return
        if isinstance(value, str) and value.upper() in choices:
            out[key] = value.upper()
        else:
            self.problem(f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class _RelationField:
    """A relation field, kept for :meth:`_Exporter.check_relations`."""

    owner: str
    where: str
    spec: FieldSpec
    target: str
    local_key: str
    remote_key: str


def _key_class(type_name: str) -> str:
    """How a key of this type compares across databases (see ``_TEXT_KEYS``)."""
    if type_name in _TEXT_KEYS:
        return "text"
    if type_name in _NUMBER_KEYS:
        return "number"
    return type_name


def _class_fields(cls: type, namespace_of_cls: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any], Any]]:
    """``(name, annotation, namespace, default)`` of each field, base classes first.

    The declared class's namespace was captured when it was decorated (a module run by
    ``runpy`` is gone from ``sys.modules`` by export time); base classes from the same module
    share it.
    """
    found: dict[str, tuple[Any, dict[str, Any]]] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        if klass is cls or klass.__module__ == cls.__module__:
            namespace = namespace_of_cls
        else:
            namespace = module_namespace(klass)
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if name.startswith("_") or _is_class_var(annotation):
                continue
            found[name] = (annotation, namespace)
    out = []
    for name, (annotation, namespace) in found.items():
        default = MISSING
        for klass in cls.__mro__:
            if name in vars(klass):
                default = vars(klass)[name]
                break
        out.append((name, annotation, namespace, default))
    return out


def _is_class_var(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return re.match(r"^\s*(typing\.)?ClassVar\b", annotation) is not None
    return annotation is typing.ClassVar or typing.get_origin(annotation) is typing.ClassVar


def _docstring(obj: Any) -> str | None:
    # Classes do not inherit __doc__, but Enum and some bases define one; take only the
    # object's own.
    doc = vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not doc or not isinstance(doc, str):
        return None
    if isinstance(obj, type) and issubclass(obj, enum.Enum) and doc.startswith("An enumeration"):
        return None
    return inspect.cleandoc(doc)


def _json_default(value: Any, lookup: Any) -> Any:
    """A Python default as the JSON value ``schema.json`` holds (enums by GraphQL name)."""
    if isinstance(value, enum.Enum):
        if lookup(type(value)) is None:
            raise ValueError(f"is a member of {type(value).__name__}, which is not a @fraiseql.enum")
        return value.name
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("is not a finite number")
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)  # inputs accept Decimal as a string or a number; a string is exact
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_default(v, lookup) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("has non-string keys")
        return {k: _json_default(v, lookup) for k, v in value.items()}
    raise ValueError("cannot be written as JSON")

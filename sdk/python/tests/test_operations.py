"""Queries (both styles), mutations and subscriptions."""

import enum
from decimal import Decimal
from typing import Annotated

import pytest

import fraiseql
from fraiseql import TenantContext
from fraiseql.scalars import ID

VIEW = "v_order"


@pytest.fixture
def order_type():
    @fraiseql.type
    class Order:
        id: ID
        status: str

    return Order


def only(section: str) -> dict:
    (entry,) = fraiseql.schema_dict()[section]
    return entry


def test_decorator_style_query_with_every_option(order_type):
    @fraiseql.query(
        sql_source="v_order_list",
        database="replica",
        cache_ttl_seconds=60,
        relay=True,
        auto_params={"where": True, "orderBy": False},
        deprecated="use orders",
    )
    async def orders_page(status: str | None = None) -> list[order_type]:
        """Orders, a page at a time."""
        pass

    assert only("queries") == {
        "name": "orders_page",
        "return_type": "[Order!]!",
        "description": "Orders, a page at a time.",
        "deprecated": "use orders",
        "sql_source": "v_order_list",
        "database": "replica",
        "relay": True,
        "auto_params": {"where": True, "order_by": False},
        "cache_ttl_seconds": 60,
        "arguments": [{"name": "status", "type": "String"}],
    }


def test_cache_ttl_is_an_alias_of_cache_ttl_seconds(order_type):
    @fraiseql.query(sql_source="v_order", cache_ttl=3600)
    def cached() -> list[order_type]: ...

    assert only("queries")["cache_ttl_seconds"] == 3600


def test_bare_query_reads_fraiseql_config_from_its_body(order_type):
    @fraiseql.query
    def order(id: ID) -> order_type | None:
        """Get a single order by UUID."""
        return fraiseql.config(sql_source="v_order", cache_ttl=5)

    assert only("queries") == {
        "name": "order",
        "return_type": "Order",
        "description": "Get a single order by UUID.",
        "sql_source": "v_order",
        "cache_ttl_seconds": 5,
        "arguments": [{"name": "id", "type": "ID!"}],
    }


def test_bare_async_query_with_a_computed_config(order_type):
    @fraiseql.query
    async def orders(limit: int = 20) -> list[order_type]:
        return fraiseql.config(sql_source=VIEW, auto_params=False)

    entry = only("queries")
    assert entry["sql_source"] == "v_order"
    assert entry["auto_params"] is False


def test_config_is_read_from_source_when_the_body_uses_its_arguments(order_type):
    @fraiseql.query
    def order(id: ID) -> order_type | None:
        id.upper()  # fails on the export placeholder; the literal config is read instead
        return fraiseql.config(sql_source="v_order")

    assert only("queries")["sql_source"] == "v_order"


def test_unreadable_config_is_reported(order_type):
    @fraiseql.query
    def order(id: ID) -> order_type | None:
        return fraiseql.config(sql_source=id.view_name)

    with pytest.raises(fraiseql.SchemaError) as err:
        fraiseql.schema_dict()
    assert "query order: cannot read fraiseql.config() from the body" in str(err.value)


def test_bodies_without_config_never_run(order_type):
    calls = []

    @fraiseql.query(sql_source="v_order")
    async def orders(ctx: TenantContext) -> list[order_type]:
        calls.append(ctx)
        return await ctx.db.query("SELECT 1")

    fraiseql.schema_dict()
    assert calls == []


def test_config_given_twice_must_agree(order_type):
    @fraiseql.query(sql_source="v_a")
    def orders() -> list[order_type]:
        return fraiseql.config(sql_source="v_b")

    with pytest.raises(fraiseql.SchemaError, match="sql_source is 'v_a' in the decorator but 'v_b'"):
        fraiseql.schema_dict()


def test_defaults_become_nullable_arguments_with_json_defaults(order_type):
    @fraiseql.enum
    class Sort(enum.Enum):
        NEWEST = "created_at desc"
        OLDEST = "created_at asc"

    @fraiseql.query
    def orders(
        status: str,
        limit: int = 20,
        min_total: Decimal = Decimal("9.99"),
        sort: Sort = Sort.NEWEST,
        tags: list[str] = ["a"],  # noqa: B006 - read, never called
        customer_id: ID | None = None,
        note: Annotated[str | None, fraiseql.field(description="free text")] = None,
    ) -> list[order_type]: ...

    assert only("queries")["arguments"] == [
        {"name": "status", "type": "String!"},
        {"name": "limit", "type": "Int", "default": 20},
        {"name": "min_total", "type": "Decimal", "default": "9.99"},
        {"name": "sort", "type": "Sort", "default": "NEWEST"},
        {"name": "tags", "type": "[String!]", "default": ["a"]},
        {"name": "customer_id", "type": "ID"},
        {"name": "note", "type": "String", "description": "free text"},
    ]


def test_context_parameters_are_not_arguments(order_type):
    class AppContext(fraiseql.Context):
        pass

    @fraiseql.query(sql_source="v_order")
    def a(ctx: TenantContext, id: ID) -> order_type | None: ...

    @fraiseql.query(sql_source="v_order")
    def b(info, id: ID) -> order_type | None: ...

    @fraiseql.query(sql_source="v_order")
    def c(context: AppContext, id: ID) -> order_type | None: ...

    for query in fraiseql.schema_dict()["queries"]:
        assert query["arguments"] == [{"name": "id", "type": "ID!"}], query["name"]


def test_input_types_with_defaults_and_options():
    @fraiseql.input
    class CreateOrderInput:
        """What a new order needs."""

        identifier: str
        total: Decimal
        priority: int = 0
        note: str | None = fraiseql.field(description="free text", default="none")

    (entry,) = fraiseql.schema_dict()["input_types"]
    assert entry == {
        "name": "CreateOrderInput",
        "description": "What a new order needs.",
        "fields": [
            {"name": "identifier", "type": "String!"},
            {"name": "total", "type": "Decimal!"},
            {"name": "priority", "type": "Int", "default": 0},
            {"name": "note", "type": "String", "default": "none", "description": "free text"},
        ],
    }


def test_mutation(order_type):
    @fraiseql.input
    class CreateOrderInput:
        identifier: str

    @fraiseql.mutation(sql_source="fn_create_order", operation="create", database="orders")
    async def create_order(ctx: TenantContext, input: CreateOrderInput) -> order_type:
        """Create an order."""
        raise AssertionError("never runs")

    assert only("mutations") == {
        "name": "create_order",
        "return_type": "Order!",
        "sql_source": "fn_create_order",
        "database": "orders",
        "operation": "CREATE",
        "description": "Create an order.",
        "arguments": [{"name": "input", "type": "CreateOrderInput!"}],
    }


def test_mutation_sql_function_alias_and_bare_config(order_type):
    @fraiseql.mutation(sql_function="fn_cancel", operation="UPDATE")
    def cancel_order(id: ID) -> order_type: ...

    @fraiseql.mutation
    def ship_order(id: ID) -> order_type:
        return fraiseql.config(sql_source="fn_ship", operation="CUSTOM")

    cancel, ship = fraiseql.schema_dict()["mutations"]
    assert cancel["sql_source"] == "fn_cancel"
    assert (ship["sql_source"], ship["operation"]) == ("fn_ship", "CUSTOM")


def test_subscription(order_type):
    @fraiseql.subscription(entity_type="Order", topic="events.order.status_updated", operation="update")
    def order_status_updated(order_id: ID | None = None) -> order_type:
        """Status changes."""

    assert only("subscriptions") == {
        "name": "order_status_updated",
        "return_type": "Order!",
        "entity_type": "Order",
        "topic": "events.order.status_updated",
        "operation": "UPDATE",
        "description": "Status changes.",
        "arguments": [{"name": "order_id", "type": "ID"}],
    }


def test_subscription_accepts_a_class_as_entity_type_and_event_alias(order_type):
    @fraiseql.subscription(entity_type=order_type, topic="events.order.created", event="create")
    def order_created() -> order_type: ...

    entry = only("subscriptions")
    assert (entry["entity_type"], entry["operation"]) == ("Order", "INSERT")
    assert "arguments" not in entry


def test_type_options_are_emitted_as_given(order_type):
    @fraiseql.type(
        database="inventory", sql_source="v_stock", key_fields=["sku", "warehouse"], description="Stock."
    )
    class Stock:
        """Ignored: description= wins."""

        sku: str
        warehouse: str
        quantity: int

    stock = fraiseql.schema_dict()["types"][1]
    assert {k: v for k, v in stock.items() if k != "fields"} == {
        "name": "Stock",
        "description": "Stock.",
        "sql_source": "v_stock",
        "database": "inventory",
        "key_fields": ["sku", "warehouse"],
    }


def test_federation_keys_and_composition_are_emitted(order_type):
    @fraiseql.type(keys=["id", "sku variation { id }"], shareable=True, tags=["internal"])
    class Product:
        id: ID
        sku: str

    product = fraiseql.schema_dict()["types"][1]
    assert product["keys"] == ["id", "sku variation { id }"]
    assert product["federation"] == {"shareable": True, "tags": ["internal"]}


def test_federation_requires_and_computed_fields_are_emitted():
    @fraiseql.type(key_fields=["email"])
    class User:
        email: ID
        total: int | None
        average: Annotated[
            int | None,
            fraiseql.field(requires="total", computed="ROUND({total} / 10)"),
        ]

    user = fraiseql.schema_dict()["types"][0]
    average = user["fields"][2]
    assert average["computed"] == "ROUND({total} / 10)"
    assert average["federation"] == {"requires": "total"}


def test_requires_without_computed_is_reported():
    @fraiseql.type(key_fields=["email"])
    class User:
        email: ID
        average: Annotated[int | None, fraiseql.field(requires="total")]
        other: Annotated[int | None, fraiseql.field(computed="")]

    with pytest.raises(fraiseql.SchemaError) as e:
        fraiseql.schema_dict()
    text = str(e.value)
    assert "requires= needs computed=" in text
    assert "computed must be a non-empty string" in text


def test_an_entity_resolver_declares_its_entitys_key():
    # Seed 003: the gateway resolves User by id; the body never runs.
    @fraiseql.type
    class User:
        id: ID
        email: str

    @fraiseql.entity_resolver(entity="User", key_fields=["email"])
    def resolve_user_by_email(email: str) -> User:
        """Resolve a User entity by email for the Apollo gateway."""

    document = fraiseql.schema_dict()
    assert document["types"][0]["keys"] == ["id", "email"]
    assert document["queries"] == []


def test_entity_resolver_mistakes_are_reported():
    @fraiseql.type
    class User:
        id: ID

    @fraiseql.entity_resolver(entity="Nope", key_fields=["id"])
    def a(id: str) -> User: ...

    @fraiseql.entity_resolver(entity="User", key_fields=["nope"])
    def b(nope: str) -> User: ...

    @fraiseql.entity_resolver(entity="User", key_fields=["id"])
    def c(other: str) -> User: ...

    @fraiseql.entity_resolver(entity="User", key_fields=[])
    def d() -> User: ...

    with pytest.raises(fraiseql.SchemaError) as e:
        fraiseql.schema_dict()
    text = str(e.value)
    assert "entity= must name a @fraiseql.type (got 'Nope')" in text
    assert "key field 'nope' is not a field of User" in text
    assert "its parameters (other) must be the key fields (id)" in text
    assert "key_fields must be a non-empty list" in text


def test_federation_option_mistakes_are_reported():
    @fraiseql.type(keys=[], shareable="yes", tags=[""])
    class Product:
        id: ID

    with pytest.raises(fraiseql.SchemaError) as e:
        fraiseql.schema_dict()
    text = str(e.value)
    assert "keys must be a non-empty list" in text
    assert "shareable must be True or False" in text
    assert "tags must be a list of non-empty strings" in text


def test_relations():
    @fraiseql.type(database="crm")
    class Customer:
        id: ID

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer | None = fraiseql.federated(database="crm", lookup="customer_id")
        siblings: list["Order"] = fraiseql.relation("customer_id", "customer_id")

    fields = fraiseql.schema_dict()["types"][1]["fields"]
    assert fields[2] == {"name": "customer", "type": "Customer", "relation": {"local_key": "customer_id"}}
    assert fields[3] == {
        "name": "siblings",
        "type": "[Order!]!",
        "relation": {"local_key": "customer_id", "remote_key": "customer_id"},
    }


def test_export_schema_writes_the_document(tmp_path, order_type):
    @fraiseql.query(sql_source="v_order")
    def orders() -> list[order_type]: ...

    path = tmp_path / "schema.json"
    returned = fraiseql.export_schema(path)
    import json

    assert json.loads(path.read_text()) == returned
    assert returned["version"] == 1
    assert list(returned) == [
        "version", "types", "input_types", "enums", "queries", "mutations", "subscriptions",
    ]  # fmt: skip

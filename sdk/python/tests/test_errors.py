"""Mistakes fail at export with one SchemaError that names every problem."""

import pytest

import fraiseql
from fraiseql.scalars import ID


def problems() -> list[str]:
    with pytest.raises(fraiseql.SchemaError) as err:
        fraiseql.schema_dict()
    message = str(err.value)
    for problem in err.value.problems:
        assert problem in message
    return err.value.problems


def declare_in_other_module(name: str):
    """A class with the same name declared from elsewhere (as a second module would)."""
    cls = type(name, (), {"__annotations__": {"id": ID}, "__module__": "other.module"})
    return fraiseql.type(cls)


def test_all_problems_are_reported_together():
    @fraiseql.type
    class Order:
        id: ID
        total: set[int]

    @fraiseql.query
    def orders() -> list["Nope"]: ...  # noqa: F821 - the mistake under test

    @fraiseql.mutation(operation="CREATE")
    def create_order(id: ID) -> Order: ...

    found = problems()
    assert len(found) == 3
    assert found[0].startswith("type Order.total: unsupported annotation set[int]")
    assert found[1] == "query orders: return type: unknown type 'Nope' in annotation 'Nope'"
    assert found[2].startswith("mutation create_order: missing sql_source")
    assert "schema has 3 problems" in str(pytest.raises(fraiseql.SchemaError, fraiseql.schema_dict).value)


def test_query_returning_an_undeclared_class_or_a_scalar():
    class Plain:
        id: ID

    @fraiseql.query
    def plain() -> Plain: ...

    @fraiseql.query
    def config() -> dict: ...

    @fraiseql.query
    def untyped(): ...

    assert problems() == [
        "query plain: return type: class Plain is not declared; decorate it with @fraiseql.type or @fraiseql.input",
        "query config: returns JSON!, which is not a @fraiseql.type (a query returns object types)",
        "query untyped: missing return annotation (e.g. -> list[Order])",
    ]


def test_duplicate_names():
    @fraiseql.type
    class Order:
        id: ID

    declare_in_other_module("Order")

    @fraiseql.query(sql_source="v_order")
    def orders() -> list[Order]: ...

    def orders_again() -> list[Order]: ...

    orders_again.__name__ = "orders"
    fraiseql.query(sql_source="v_order")(orders_again)

    found = problems()
    assert found[0].startswith("duplicate name 'Order': type Order (")
    assert "other.module.Order" in found[0]
    assert found[1].startswith("duplicate query 'orders': ")


def test_duplicate_between_type_and_input():
    @fraiseql.type
    class Thing:
        id: ID

    Other = type("Thing", (), {"__annotations__": {"id": ID}})
    fraiseql.input(Other)
    assert problems()[0].startswith("duplicate name 'Thing': type Thing (")


def test_graphql_name_collisions_within_a_type():
    @fraiseql.type
    class Order:
        created_at: str
        createdAt: str  # noqa: N815 - the mistake under test

    assert problems() == [
        "type Order.createdAt: GraphQL name 'createdAt' is also the name of field 'created_at'"
    ]


def test_wrong_kinds_in_fields_and_arguments():
    @fraiseql.input
    class Filter:
        id: ID

    @fraiseql.type
    class Order:
        id: ID
        filter: Filter

    @fraiseql.query(sql_source="v_order")
    def orders(like: Order) -> list[Order]: ...

    assert problems() == [
        "type Order.filter: Filter is an input type; object fields take @fraiseql.type, enum or scalar types",
        "query orders(like): Order is an object type; arguments and input fields take @fraiseql.input, enum or scalar types",
    ]


def test_undeclared_enum_and_context_misuse():
    import enum

    class Color(enum.Enum):
        RED = "red"

    @fraiseql.type
    class Car:
        color: Color
        ctx: fraiseql.TenantContext

    assert problems() == [
        "type Car.color: enum Color is not declared; decorate it with @fraiseql.enum",
        "type Car.ctx: TenantContext is a context type; it may only annotate the first parameter "
        "of a query, mutation or subscription",
    ]


def test_field_resolver_is_explained():
    @fraiseql.type
    class Organization:
        id: ID

        @fraiseql.field_resolver
        async def member_count(self, ctx) -> int:
            return 0

    (problem,) = problems()
    assert problem.startswith("type Organization.member_count: @fraiseql.field_resolver runs Python")
    assert "compute the value in the view's data" in problem


def test_unsupported_options_are_named():
    @fraiseql.type(tenant_scoped=True)
    class Order:
        id: ID
        secret: str = fraiseql.field(requires_scope="read secret")
        customer: "Order" = fraiseql.federated(database="primary", lookup="id", batch_size=100)

    @fraiseql.query(sql_source="v_order", requires_role="admin")
    def orders() -> list[Order]:
        return fraiseql.config(additional_views=["v_x"])

    @fraiseql.subscription(topic="t", filter="status == 'shipped'")
    def shipped() -> Order: ...

    assert problems() == [
        "type Order: unsupported option 'tenant_scoped' (schema.json has no place for it)",
        "type Order.secret: requires_scope must be one word (a role or scope name), got 'read secret'",
        "type Order.customer: unsupported option 'batch_size' in fraiseql.federated() "
        "(schema.json has no place for it)",
        "query orders: unsupported option 'additional_views' in fraiseql.config() "
        "(schema.json has no place for it)",
        "subscription shipped: unsupported option 'filter' (declare the filter as an argument "
        "of the subscription)",
    ]


def test_option_values_are_checked():
    @fraiseql.type(key_fields=["nope"], sql_source="v order")
    class Order:
        id: ID

    @fraiseql.query(cache_ttl=-1, relay=True, auto_params={"sort": True})
    def order() -> Order: ...

    @fraiseql.mutation(sql_source="fn_x", operation="UPSERT")
    def upsert() -> Order: ...

    @fraiseql.subscription(entity_type="Nope", operation="TRUNCATE")
    def changed() -> Order: ...

    assert problems() == [
        "type Order: sql_source must be an SQL name like 'v_order' or 'app.v_order', got 'v order'",
        "type Order: key field 'nope' is not a field of the type",
        "query order: relay=True needs a list return type, got Order!",
        "query order: auto_params key 'sort' is not one of where, order_by, limit, offset",
        "query order: cache_ttl_seconds must be a whole number of seconds >= 0, got -1",
        "mutation upsert: operation must be one of CREATE, UPDATE, DELETE, CUSTOM, got 'UPSERT'",
        "subscription changed: entity_type 'Nope' is not a @fraiseql.type",
        "subscription changed: operation must be one of INSERT, UPDATE, DELETE, got 'TRUNCATE'",
    ]


def test_decorating_the_wrong_thing_fails_immediately():
    with pytest.raises(TypeError, match="decorates a class"):
        fraiseql.type(lambda: None)
    with pytest.raises(TypeError, match="enum.Enum subclass"):
        fraiseql.enum(type("NotEnum", (), {}))
    with pytest.raises(TypeError, match="FraiseQLTestClient"):
        fraiseql.query("{ orders { id } }")


def test_roles_and_scopes_are_exported():
    @fraiseql.type(requires_role="staff")
    class Payroll:
        id: ID
        salary: float = fraiseql.field(requires_scope="read:salary")

    @fraiseql.query(sql_source="v_payroll", requires_role="admin", requires_scope="read:payroll")
    def payroll() -> list[Payroll]: ...

    doc = fraiseql.export_schema(None)
    (payroll_type,) = doc["types"]
    assert payroll_type["requires_role"] == "staff"
    assert payroll_type["fields"][1]["requires_scope"] == "read:salary"
    (query,) = doc["queries"]
    assert (query["requires_role"], query["requires_scope"]) == ("admin", "read:payroll")


def test_injected_claims_are_exported_and_checked():
    @fraiseql.type(sql_source="v_note")
    class Note:
        id: ID
        owner: str

    @fraiseql.query(inject={"owner": "jwt:sub"})
    def my_notes() -> list[Note]: ...

    @fraiseql.mutation(sql_source="fn_add_note", inject={"owner": "jwt:sub"})
    def add_note(body: str) -> Note: ...

    doc = fraiseql.export_schema(None)
    assert doc["queries"][0]["inject"] == {"owner": "jwt:sub"}
    assert doc["mutations"][0]["inject"] == {"owner": "jwt:sub"}


def test_injected_claims_that_cannot_be_trusted_are_problems():
    @fraiseql.type(sql_source="v_note")
    class Note:
        id: ID
        owner: str

    @fraiseql.query(inject={"owner": "header:X-User"})
    def by_header() -> list[Note]: ...

    @fraiseql.query(inject={"Owner": "jwt:sub"})
    def camel() -> list[Note]: ...

    @fraiseql.query(inject={"owner": "jwt:sub"})
    def both(owner: str) -> list[Note]: ...

    @fraiseql.mutation(sql_source="fn_x", inject=["owner"])
    def listed() -> Note: ...

    assert problems() == [
        "query by_header: inject['owner'] must be 'jwt:<claim>' (the verified token is the only "
        "source the server trusts), got 'header:X-User'",
        "query camel: inject key 'Owner' is not a snake_case name",
        "query both: 'owner' is injected from the token, so it cannot also be a parameter",
        "mutation listed: inject must be a dict such as {\"owner_id\": \"jwt:sub\"}, got ['owner']",
    ]

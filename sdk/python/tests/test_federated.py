"""``fraiseql.federated(database=, lookup=, remote_key=)``: a field read from a type that lives
in another database, and ``@fraiseql.query(database=)``.

The export is the same ``relation`` object as ``fraiseql.relation``'s (the engine reads the
target type's own ``database``); what federated adds is checked at export: the database is
where the target lives, both keys are declared fields, and they compare alike across
databases. Every mistake is one line of the one ``SchemaError``.
"""

from decimal import Decimal

import pytest

import fraiseql
from fraiseql.scalars import ID, UUID

from .support import by_name, validator


def problems() -> list[str]:
    with pytest.raises(fraiseql.SchemaError) as err:
        fraiseql.schema_dict()
    return err.value.problems


def field_of(document: dict, type_name: str, field_name: str) -> dict:
    return by_name(by_name(document["types"], type_name)["fields"], field_name)


def declare_crm_customer():
    @fraiseql.type(database="crm")
    class Customer:
        id: ID
        name: str
        account_number: int

    return Customer


# -- what it exports ----------------------------------------------------------------------


def test_federated_exports_the_relation_and_the_target_keeps_its_database():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer | None = fraiseql.federated(database="crm", lookup="customer_id")

    document = fraiseql.schema_dict()
    assert field_of(document, "Order", "customer") == {
        "name": "customer",
        "type": "Customer",
        "relation": {"local_key": "customer_id"},
    }
    assert by_name(document["types"], "Customer")["database"] == "crm"
    assert "database" not in by_name(document["types"], "Order")
    assert not list(validator().iter_errors(document))


def test_federated_and_relation_export_the_same_object():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        via_federated: Customer = fraiseql.federated(database="crm", lookup="customer_id", remote_key="id")
        via_relation: Customer = fraiseql.relation("customer_id", "id")
        via_local_key: Customer = fraiseql.federated(database="crm", local_key="customer_id", remote_key="id")

    document = fraiseql.schema_dict()
    exported = [field_of(document, "Order", name)["relation"] for name in ("via_federated", "via_relation")]
    assert exported == [{"local_key": "customer_id", "remote_key": "id"}] * 2
    assert field_of(document, "Order", "via_local_key")["relation"] == exported[0]


def test_federated_list_matches_the_targets_key_and_keeps_field_options():
    @fraiseql.type(database="analytics")
    class PageView:
        id: ID
        user_id: ID
        path: str

    @fraiseql.type
    class User:
        id: ID
        page_views: list[PageView] = fraiseql.federated(
            database="analytics",
            lookup="id",
            remote_key="user_id",
            description="Views recorded by the analytics database.",
            graphql_name="views",
            deprecated="use visits",
        )

    assert field_of(fraiseql.schema_dict(), "User", "page_views") == {
        "name": "page_views",
        "type": "[PageView!]!",
        "description": "Views recorded by the analytics database.",
        "deprecated": "use visits",
        "graphql_name": "views",
        "relation": {"local_key": "id", "remote_key": "user_id"},
    }


def test_federated_within_one_database_is_allowed():
    @fraiseql.type(database="inventory")
    class Product:
        id: ID

    @fraiseql.type(database="inventory")
    class Reservation:
        id: ID
        product_id: ID
        product: Product = fraiseql.federated(database="inventory", lookup="product_id")

    assert field_of(fraiseql.schema_dict(), "Reservation", "product")["relation"] == {
        "local_key": "product_id"
    }


def test_keys_of_the_same_class_match_across_databases():
    """ID, UUID and String all compare as text; Int, Float and Decimal as numbers."""

    @fraiseql.type(database="crm")
    class Account:
        id: UUID
        number: Decimal

    @fraiseql.type
    class Order:
        id: ID
        account_id: str
        account_number: int
        by_id: Account = fraiseql.federated(database="crm", lookup="account_id")
        by_number: Account = fraiseql.federated(database="crm", lookup="account_number", remote_key="number")

    fraiseql.schema_dict()  # no SchemaError


def test_query_database_is_exported_as_the_seed_writes_it():
    """Seed 003: each root query names its database; UserAnalytics itself names none."""

    @fraiseql.type
    class User:
        id: str
        name: str

    @fraiseql.type
    class UserAnalytics:
        user_id: str
        total_orders: int
        lifetime_value: float

    @fraiseql.query(sql_source="v_user", database="primary")
    def user(id: str) -> User:
        pass

    @fraiseql.query(sql_source="v_user_analytics", database="analytics")
    def user_analytics(user_id: str) -> UserAnalytics:
        pass

    @fraiseql.query
    def analytics_by_stub(user_id: str) -> list[UserAnalytics]:
        return fraiseql.config(sql_source="v_user_analytics", database="analytics")

    queries = fraiseql.schema_dict()["queries"]
    assert [(q["name"], q.get("sql_source"), q.get("database")) for q in queries] == [
        ("user", "v_user", "primary"),
        ("user_analytics", "v_user_analytics", "analytics"),
        ("analytics_by_stub", "v_user_analytics", "analytics"),
    ]


# -- the database ---------------------------------------------------------------------------


def test_a_database_other_than_the_targets_names_both():
    Customer = declare_crm_customer()

    @fraiseql.type(database="billing")
    class Invoice:
        id: ID

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="billing", lookup="customer_id")

    assert problems() == [
        "type Order.customer: fraiseql.federated() says database='billing' but Customer lives in "
        "database 'crm'. The target type's @fraiseql.type(database=…) decides where it is read: "
        "fix whichever is wrong"
    ]


def test_an_unknown_database_lists_the_schemas_databases():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="crn", lookup="customer_id")

    (problem,) = problems()
    assert problem.startswith("type Order.customer: fraiseql.federated() says database='crn' but Customer")
    assert "no @fraiseql.type lives in 'crn' (this schema's databases: crm, primary)" in problem


def test_a_target_left_in_primary_is_reported():
    """The usual slip: the target type forgot its own database=."""

    @fraiseql.type
    class Customer:
        id: ID

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="crm", lookup="customer_id")

    (problem,) = problems()
    assert "says database='crm' but Customer lives in database 'primary'" in problem
    assert "no @fraiseql.type lives in 'crm' (this schema's databases: primary)" in problem


def test_database_is_required():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(lookup="customer_id")

    assert problems() == [
        "type Order.customer: federated() needs database= (where the target type lives, a "
        "[databases.<name>] of fraiseql.toml); use fraiseql.relation() for a type in this type's database"
    ]


@pytest.mark.parametrize("database", ["", "crm.db", "crm-2", "2crm", 5, ["crm"]])
def test_a_database_that_is_not_a_name(database):
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database=database, lookup="customer_id")

    assert problems() == [
        "type Order.customer: fraiseql.federated() database must be a database name like 'primary' "
        f"or 'crm' (letters, digits and _, as in [databases.<name>] of fraiseql.toml), got {database!r}"
    ]


def test_type_and_query_databases_must_be_names_the_engine_takes():
    @fraiseql.type(database="app.crm")
    class Customer:
        id: ID

    @fraiseql.query(database="crm db")
    def customers() -> list[Customer]: ...

    found = problems()
    assert [p.split(":")[0] for p in found] == ["type Customer", "query customers"]
    assert found[0].endswith("got 'app.crm'")
    assert found[1].endswith("got 'crm db'")


# -- the keys -------------------------------------------------------------------------------


def test_a_lookup_that_is_not_a_field_lists_the_fields():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        total: Decimal
        customer: Customer = fraiseql.federated(database="crm", lookup="fk_customer")

    assert problems() == [
        "type Order.customer: lookup='fk_customer' is not a field of Order (its fields: id, total)"
    ]


def test_a_camel_case_lookup_suggests_the_data_key():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="crm", lookup="customerId")

    assert problems() == [
        "type Order.customer: lookup='customerId' is not a field of Order; did you mean "
        "'customer_id'? (keys are the snake_case keys of the view's data)"
    ]


def test_a_remote_key_that_is_not_a_field_of_the_target():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="crm", lookup="customer_id", remote_key="uuid")

    assert problems() == [
        "type Order.customer: remote_key='uuid' is not a field of Customer (its fields: id, name, account_number)"
    ]


def test_a_target_without_an_id_needs_a_remote_key():
    """An embedded shape (no id, nested JSON elsewhere) is not a federated target by default."""

    @fraiseql.type(database="crm")
    class Address:
        city: str
        country: str

    @fraiseql.type
    class Order:
        id: ID
        address: Address = fraiseql.federated(database="crm", lookup="id")

    assert problems() == [
        "type Order.address: remote_key='id' (the default) is not a field of Address (its fields: city, country)"
    ]


def test_keys_must_be_plain_single_values():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Tag:
        id: ID

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        tag_ids: list[ID]
        tag: Tag
        customer: Customer = fraiseql.federated(database="crm", lookup="customer_id")
        by_relation: Customer = fraiseql.federated(database="crm", lookup="customer")
        by_list: Customer = fraiseql.federated(database="crm", lookup="tag_ids")
        by_object: Customer = fraiseql.federated(database="crm", lookup="tag")

    assert problems() == [
        "type Order.by_relation: lookup='customer': Order.customer is a relation, not a key",
        "type Order.by_list: lookup='tag_ids': Order.tag_ids is a list ([ID!]!); a key holds one value",
        "type Order.by_object: lookup='tag': Order.tag is an object (Tag!); a key is a scalar or enum field",
    ]


def test_keys_that_compare_differently_across_databases_name_both_ends():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(
            database="crm", lookup="customer_id", remote_key="account_number"
        )

    assert problems() == [
        "type Order.customer: Order.customer_id (ID, database 'primary') cannot match "
        "Customer.account_number (Int, database 'crm'): keys across databases must both be text "
        "(ID, UUID, String) or both numbers (Int, Float, Decimal)"
    ]


def test_relation_across_databases_gets_the_same_key_check():
    """``relation()`` to another database is the same engine feature; its keys may be
    undeclared (``data`` keys), but declared ones must compare alike."""
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_number: str
        customer: Customer = fraiseql.relation("customer_number", "account_number")
        undeclared: Customer = fraiseql.relation("legacy_customer_key")

    (problem,) = problems()
    assert problem.startswith("type Order.customer: Order.customer_number (String, database 'primary')")


def test_the_same_key_classes_within_one_database_are_not_checked():
    """Within one database the statement compares the keys itself."""

    @fraiseql.type
    class Customer:
        id: ID
        number: int

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="primary", lookup="customer_id", remote_key="number")

    fraiseql.schema_dict()


@pytest.mark.parametrize("lookup", ["", "customer id", "__typename", 7])
def test_a_lookup_that_is_not_a_name(lookup):
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer: Customer = fraiseql.federated(database="crm", lookup=lookup)

    (problem,) = problems()
    assert problem.startswith("type Order.customer: ")
    if lookup == "":
        assert problem == "type Order.customer: fraiseql.federated() needs a non-empty local key"
    else:
        assert f"lookup {lookup!r} is not a valid GraphQL name" in problem


def test_an_empty_relation_key_is_reported_not_dropped():
    @fraiseql.type
    class Order:
        id: ID
        parent: "Order" = fraiseql.relation("")

    assert problems() == ["type Order.parent: fraiseql.relation() needs a non-empty local key"]


def test_lookup_and_local_key_that_disagree():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="crm", lookup="customer_id", local_key="id")

    assert problems() == [
        "type Order.customer: federated() got lookup='customer_id' and local_key='id'; give one"
    ]


# -- the target -----------------------------------------------------------------------------


def test_a_target_without_a_view():
    """A scalar, an enum or an input type has no view to read from."""
    import enum

    @fraiseql.enum
    class Tier(enum.Enum):
        FREE = "free"

    @fraiseql.input
    class CustomerInput:
        id: ID

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        name: str = fraiseql.federated(database="crm", lookup="customer_id")
        tier: Tier = fraiseql.federated(database="crm", lookup="customer_id")
        customer: CustomerInput = fraiseql.federated(database="crm", lookup="customer_id")

    found = problems()
    assert found[:2] == [
        "type Order.name: fraiseql.federated() reads a @fraiseql.type from its own view in database "
        "'crm', but the field's type is String! (a scalar, which has no view)",
        "type Order.tier: fraiseql.federated() reads a @fraiseql.type from its own view in database "
        "'crm', but the field's type is Tier! (an enum, which has no view)",
    ]
    assert "CustomerInput is an input type" in found[2]
    assert found[3].startswith("type Order.customer: fraiseql.federated() reads a @fraiseql.type")


def test_a_target_class_that_is_not_declared():
    class Customer:  # no @fraiseql.type
        id: ID

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="crm", lookup="customer_id")

    (problem,) = problems()
    assert problem.startswith("type Order.customer: ")
    assert "Customer" in problem


def test_federated_is_for_object_fields_only():
    declare_crm_customer()

    @fraiseql.input
    class OrderFilter:
        customer_id: ID = fraiseql.federated(database="crm", lookup="customer_id")

    @fraiseql.type
    class Order:
        id: ID

    @fraiseql.query
    def orders(customer_id: ID = fraiseql.federated(database="crm", lookup="id")) -> list[Order]: ...

    assert problems() == [
        "input OrderFilter.customer_id: fraiseql.federated() applies to object fields only",
        "query orders(customer_id): fraiseql.federated() applies to object fields only",
    ]


def test_every_federated_mistake_is_reported_at_once():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        a: Customer = fraiseql.federated(database="billing", lookup="nope")
        b: Customer = fraiseql.federated(lookup="id", remote_key="nope", batch_size=50)

    found = problems()
    assert len(found) == 5, found
    assert [p.split(":")[0] for p in found] == ["type Order.b"] * 2 + ["type Order.a"] * 2 + ["type Order.b"]


def test_a_remote_key_that_is_not_a_name_is_reported_once():
    Customer = declare_crm_customer()

    @fraiseql.type
    class Order:
        id: ID
        customer_id: ID
        customer: Customer = fraiseql.federated(database="crm", lookup="customer_id", remote_key="id;drop")

    (problem,) = problems()
    assert problem.startswith("type Order.customer: remote_key 'id;drop' is not a valid GraphQL name")

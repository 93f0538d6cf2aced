"""The seed fixtures export what the seeds mean, and every output matches docs/schema.schema.json."""

import json
import re
import subprocess
import sys

import pytest

import fraiseql

from .support import FIXTURES, SCHEMA_DOC, SEED_FIXTURES, by_name, export_fixture, validator


@pytest.mark.parametrize("name", sorted(SEED_FIXTURES))
def test_fixture_output_is_valid_schema_json(name):
    errors = sorted(validator().iter_errors(export_fixture(name)), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_docs_example_is_valid_schema_json():
    """The schema.json example in docs/schema.md passes the JSON Schema (they must agree)."""
    (block,) = re.findall(r"```json\n(.*?)```", SCHEMA_DOC.read_text(), flags=re.S)
    errors = list(validator().iter_errors(json.loads(block)))
    assert not errors, [e.message for e in errors]


def test_json_schema_rejects_unknown_keys_and_bad_values():
    check = validator()
    good = {"version": 1, "types": [{"name": "A", "fields": [{"name": "id", "type": "ID!"}]}]}
    assert check.is_valid(good)
    assert not check.is_valid({**good, "federation": {}})
    assert not check.is_valid(
        {"types": [{"name": "A", "fields": [{"name": "id", "type": "ID!", "nullable": True}]}]}
    )
    assert not check.is_valid({"mutations": [{"name": "m", "return_type": "A"}]})  # no sql_source
    assert not check.is_valid({"queries": [{"name": "q", "return_type": "[A!"}], "version": 2})


def test_order_service_matches_the_docs_example():
    doc = export_fixture("order_service")
    order = by_name(doc["types"], "Order")
    assert order == {
        "name": "Order",
        "description": "A customer order.",
        "fields": [
            {"name": "id", "type": "ID!"},
            {"name": "identifier", "type": "String!"},
            {"name": "total", "type": "Decimal!"},
            {"name": "status", "type": "String!"},
            {"name": "created_at", "type": "DateTime!"},
        ],
    }
    assert doc["input_types"] == [
        {
            "name": "CreateOrderInput",
            "fields": [{"name": "identifier", "type": "String!"}, {"name": "total", "type": "Decimal!"}],
        }
    ]
    single = by_name(doc["queries"], "order")
    assert (single["return_type"], single["sql_source"], single["arguments"]) == (
        "Order", "v_order", [{"name": "id", "type": "ID!"}],
    )  # fmt: skip
    listing = by_name(doc["queries"], "orders")
    assert listing["return_type"] == "[Order!]!"
    assert listing["arguments"] == [
        {"name": "limit", "type": "Int", "default": 20},
        {"name": "offset", "type": "Int", "default": 0},
    ]
    (create,) = doc["mutations"]
    assert {k: create[k] for k in ("name", "return_type", "sql_source", "operation", "arguments")} == {
        "name": "create_order",
        "return_type": "Order!",
        "sql_source": "fn_create_order",
        "operation": "CREATE",
        "arguments": [{"name": "input", "type": "CreateOrderInput!"}],
    }
    (sub,) = doc["subscriptions"]
    assert {k: sub[k] for k in ("name", "return_type", "entity_type", "topic", "arguments")} == {
        "name": "order_status_updated",
        "return_type": "Order!",
        "entity_type": "Order",
        "topic": "events.order.status_updated",
        "arguments": [{"name": "order_id", "type": "ID"}],
    }


def test_ecommerce_types_live_in_their_databases_and_relate_across_them():
    doc = export_fixture("ecommerce")
    databases = {t["name"]: t.get("database", "primary") for t in doc["types"]}
    assert databases == {
        "Customer": "primary",
        "OrderItem": "primary",
        "Shipping": "primary",
        "Order": "primary",
        "Product": "inventory",
        "InventoryStatus": "inventory",
        "Reservation": "inventory",
        "PaymentMethod": "payments",
        "Transaction": "payments",
        "Refund": "payments",
    }

    def relation(type_name, field_name):
        field = by_name(by_name(doc["types"], type_name)["fields"], field_name)
        return field["type"], field.get("relation")

    assert relation("Customer", "payment_methods") == (
        "[PaymentMethod!]!", {"local_key": "id", "remote_key": "customer_id"},
    )  # fmt: skip
    assert relation("OrderItem", "product") == ("Product!", {"local_key": "product_id"})
    assert relation("Order", "items") == ("[OrderItem!]!", {"local_key": "id", "remote_key": "order_id"})
    assert relation("Order", "customer") == ("Customer!", {"local_key": "customer_id"})
    assert relation("Order", "payment") == ("Transaction!", {"local_key": "id", "remote_key": "order_id"})
    assert relation("Order", "reservations") == (
        "[Reservation!]!", {"local_key": "id", "remote_key": "order_id"},
    )  # fmt: skip
    assert relation("Reservation", "product") == ("Product!", {"local_key": "product_id"})
    assert relation("Shipping", "tracking_number") == ("String", None)

    assert [q["name"] for q in doc["queries"]] == ["order", "orders", "customer", "inventory_status"]
    assert by_name(doc["queries"], "orders")["arguments"] == [
        {"name": "customer_id", "type": "ID"},
        {"name": "limit", "type": "Int", "default": 20},
    ]
    inventory = by_name(doc["queries"], "inventory_status")
    assert (inventory["return_type"], inventory["sql_source"]) == (
        "[InventoryStatus!]!",
        "v_inventory_status",
    )
    (create,) = doc["mutations"]
    assert [a["name"] for a in create["arguments"]] == [
        "customer_id", "shipping_address", "shipping_city", "shipping_postal",
        "shipping_country", "payment_method_id",
    ]  # fmt: skip


def test_saas_schema_is_declarative():
    doc = export_fixture("saas")
    organization = by_name(doc["types"], "Organization")
    assert organization["database"] == "tenant"
    assert by_name(organization["fields"], "member_count")["type"] == "Int!"
    project = by_name(doc["types"], "Project")
    assert by_name(project["fields"], "organization") == {
        "name": "organization",
        "type": "Organization!",
        "relation": {"local_key": "org_id"},
    }
    organizations = by_name(doc["queries"], "organizations")
    assert organizations["arguments"] == [{"name": "limit", "type": "Int", "default": 50}]
    assert by_name(doc["queries"], "projects_by_org")["arguments"] == [{"name": "org_id", "type": "ID!"}]
    tenant_config = by_name(doc["queries"], "tenant_config")
    assert tenant_config["cache_ttl_seconds"] == 3600
    assert "arguments" not in tenant_config  # ctx: TenantContext is not an argument
    create = by_name(doc["mutations"], "create_project")
    assert create == {
        "name": "create_project",
        "return_type": "Project!",
        "sql_source": "fn_create_project",
        "operation": "CREATE",
        "description": "Create project and emit event.",
        "arguments": [{"name": "org_id", "type": "ID!"}, {"name": "name", "type": "String!"}],
    }


@pytest.mark.parametrize("name", sorted(SEED_FIXTURES))
def test_running_a_fixture_writes_schema_json(name, tmp_path):
    """`python <fixture>.py` writes the same document in its working directory."""
    subprocess.run([sys.executable, str(FIXTURES / f"{name}.py")], cwd=tmp_path, check=True)
    written = json.loads((tmp_path / "schema.json").read_text())
    assert written == export_fixture(name)


def test_fixture_can_be_exported_twice_after_reset():
    first = export_fixture("order_service")
    fraiseql.reset_registry()
    assert export_fixture("order_service") == first

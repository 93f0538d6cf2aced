"""``fraiseql.federated`` end to end: the exported schema.json compiles with the engine, the
engine refuses what the SDK refuses, and a real server reads the field from a second database
(two SQLite files: orders in ``primary``, customers in ``crm``)."""

import json
import re
import sqlite3

import pytest

import fraiseql
from fraiseql.scalars import ID
from fraiseql.testing import FraiseQLTestClient

from .conftest import explain

pytestmark = pytest.mark.integration

CUSTOMERS = [("c1", "Ada Lovelace", "ada@example.com"), ("c2", "Alan Turing", "alan@example.com")]
# o3's customer is in no database: its field is null, not an error.
ORDERS = [("o1", "ORD-1", "c1"), ("o2", "ORD-2", "c2"), ("o3", "ORD-3", "c9"), ("o4", "ORD-4", "c1")]


def declare_schema():
    """Orders in ``primary``; customers and their notes in ``crm``."""
    fraiseql.reset_registry()

    @fraiseql.type(database="crm")
    class Note:
        id: ID
        customer_id: ID
        text: str

    @fraiseql.type(database="crm", sql_source="v_customer")
    class Customer:
        id: ID
        name: str
        email: str
        # Same database as Customer: federated() within one database is an ordinary relation.
        notes: list[Note] = fraiseql.federated(database="crm", lookup="id", remote_key="customer_id")

    @fraiseql.type
    class Order:
        id: ID
        identifier: str
        customer_id: ID
        customer: Customer | None = fraiseql.federated(database="crm", lookup="customer_id")

    @fraiseql.query(sql_source="v_order")
    def orders(limit: int = 20) -> list[Order]: ...

    @fraiseql.query(sql_source="v_customer", database="crm")
    def customers() -> list[Customer]: ...


def test_a_federated_schema_compiles(cli, tmp_path):
    declare_schema()
    source = tmp_path / "schema.json"
    document = fraiseql.export_schema(source)
    assert {t["name"]: t.get("database") for t in document["types"]} == {
        "Note": "crm",
        "Customer": "crm",
        "Order": None,
    }

    out = tmp_path / "schema.compiled.json"
    result = cli("compile", source, "-o", out)
    assert result.returncode == 0, explain(result)
    types = json.loads(out.read_text())["schema"]["types"]
    # The engine resolved where each type lives and the relation's default remote key.
    assert {name: t["database"] for name, t in types.items()} == {
        "Note": "crm",
        "Customer": "crm",
        "Order": "primary",
    }
    assert types["Order"]["fields"]["customer"]["relation"] == {
        "local_key": "customer_id",
        "remote_key": "id",
    }
    assert types["Customer"]["fields"]["notes"]["relation"] == {
        "local_key": "id",
        "remote_key": "customer_id",
    }

    sdl = cli("sdl", source)
    assert sdl.returncode == 0, explain(sdl)
    assert re.search(r"\bcustomer: Customer\b(?!!)", sdl.stdout), sdl.stdout


def test_the_engine_refuses_keys_the_sdk_refuses(cli, tmp_path):
    """Written by hand, since the SDK will not export it: an ID cannot match an Int across
    databases. Both say so, naming both databases."""
    document = {
        "version": 1,
        "types": [
            {"name": "Customer", "database": "crm", "fields": [{"name": "number", "type": "Int!"}]},
            {
                "name": "Order",
                "fields": [
                    {"name": "id", "type": "ID!"},
                    {
                        "name": "customer",
                        "type": "Customer",
                        "relation": {"local_key": "id", "remote_key": "number"},
                    },
                ],
            },
        ],
        "queries": [{"name": "orders", "return_type": "[Order!]!"}],
    }
    source = tmp_path / "schema.json"
    source.write_text(json.dumps(document))
    result = cli("compile", source, "-o", tmp_path / "out.json")
    assert result.returncode == 1, explain(result)
    assert "'primary'" in result.stderr and "'crm'" in result.stderr, explain(result)

    fraiseql.reset_registry()

    @fraiseql.type(database="crm")
    class Customer:
        number: int

    @fraiseql.type
    class Order:
        id: ID
        customer: Customer | None = fraiseql.federated(database="crm", lookup="id", remote_key="number")

    with pytest.raises(fraiseql.SchemaError) as err:
        fraiseql.schema_dict()
    (problem,) = err.value.problems
    assert "(ID, database 'primary') cannot match Customer.number (Int, database 'crm')" in problem


def make_databases(directory):
    with sqlite3.connect(directory / "crm.db") as db:
        db.executescript(
            """
            CREATE TABLE tb_customer (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
            CREATE TABLE tb_note (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, text TEXT NOT NULL);
            CREATE VIEW v_customer AS SELECT id, json_object('id', id, 'name', name, 'email', email) AS data
              FROM tb_customer;
            CREATE VIEW v_note AS SELECT id, customer_id,
              json_object('id', id, 'customer_id', customer_id, 'text', text) AS data FROM tb_note;
            """
        )
        db.executemany("INSERT INTO tb_customer VALUES (?, ?, ?)", CUSTOMERS)
        db.executemany(
            "INSERT INTO tb_note VALUES (?, ?, ?)", [("n1", "c1", "prefers email"), ("n2", "c1", "VIP")]
        )
    with sqlite3.connect(directory / "app.db") as db:
        db.executescript(
            """
            CREATE TABLE tb_order (id TEXT PRIMARY KEY, identifier TEXT NOT NULL, customer_id TEXT NOT NULL);
            CREATE VIEW v_order AS SELECT id, customer_id,
              json_object('id', id, 'identifier', identifier, 'customer_id', customer_id) AS data
              FROM tb_order;
            """
        )
        db.executemany("INSERT INTO tb_order VALUES (?, ?, ?)", ORDERS)


@pytest.fixture
def federated_app(tmp_path):
    make_databases(tmp_path)
    declare_schema()
    fraiseql.export_schema(tmp_path / "schema.json")

    def url(name):
        return json.dumps("sqlite://" + str((tmp_path / name).resolve()))

    (tmp_path / "fraiseql.toml").write_text(
        f"[databases.primary]\nurl = {url('app.db')}\n\n"
        f"[databases.crm]\nurl = {url('crm.db')}\n\n"
        '[fraiseql]\nschema_file = "schema.json"\n'
    )
    return tmp_path


@pytest.mark.asyncio
async def test_a_federated_field_is_read_from_the_other_database(federated_app, fraiseql_bin):
    async with FraiseQLTestClient(config=federated_app / "fraiseql.toml", binary=fraiseql_bin) as client:
        result = await client.execute(
            "{ orders(limit: 10) { id identifier customer { name email notes { text } } } }"
        )
        assert "errors" not in result, result
        rows = sorted(result["data"]["orders"], key=lambda row: row["id"])
        assert rows == [
            {
                "id": "o1",
                "identifier": "ORD-1",
                "customer": {
                    "name": "Ada Lovelace",
                    "email": "ada@example.com",
                    "notes": [{"text": "prefers email"}, {"text": "VIP"}],
                },
            },
            {
                "id": "o2",
                "identifier": "ORD-2",
                "customer": {"name": "Alan Turing", "email": "alan@example.com", "notes": []},
            },
            {"id": "o3", "identifier": "ORD-3", "customer": None},
            {
                "id": "o4",
                "identifier": "ORD-4",
                "customer": {
                    "name": "Ada Lovelace",
                    "email": "ada@example.com",
                    "notes": [{"text": "prefers email"}, {"text": "VIP"}],
                },
            },
        ]

        # The query that names its database reads crm directly.
        result = await client.execute("{ customers { id name } }")
        assert sorted(c["id"] for c in result["data"]["customers"]) == ["c1", "c2"], result

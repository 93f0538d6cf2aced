"""FraiseQLTestClient drives a real server over SQLite: SDK-exported schema, a view with a JSON
`data` column of snake_case keys, camelCase GraphQL names, aliases, variables."""

import json
import sqlite3
from decimal import Decimal

import pytest

import fraiseql
from fraiseql.scalars import ID, DateTime
from fraiseql.testing import FraiseQLTestClient

pytestmark = pytest.mark.integration

ORDERS = [
    ("ord-1", "ORD-001", 49.99, "pending", "2024-01-15T10:30:00Z"),
    ("ord-2", "ORD-002", 10.5, "shipped", "2024-01-16T08:00:00Z"),
    ("ord-3", "ORD-003", 120.0, "paid", "2024-01-17T12:45:00Z"),
]


def data(result, field):
    """``result["data"][field]``, failing with the whole response when it is not there."""
    assert "errors" not in result and field in (result.get("data") or {}), f"unexpected response: {result}"
    return result["data"][field]


def make_database(path):
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE tb_order (
                pk_order INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                identifier TEXT NOT NULL UNIQUE,
                total REAL NOT NULL,
                status TEXT NOT NULL,
                created_at TEXT NOT NULL
            );
            CREATE VIEW v_order AS
            SELECT id, json_object(
                'id', id, 'identifier', identifier, 'total', total,
                'status', status, 'created_at', created_at
            ) AS data
            FROM tb_order;
            """
        )
        db.executemany(
            "INSERT INTO tb_order (id, identifier, total, status, created_at) VALUES (?, ?, ?, ?, ?)",
            ORDERS,
        )


def export_order_schema(path):
    fraiseql.reset_registry()

    @fraiseql.type
    class Order:
        """A customer order."""

        id: ID
        identifier: str
        total: Decimal
        status: str
        created_at: DateTime

    @fraiseql.query(sql_source="v_order")
    def order(id: ID) -> Order | None: ...

    @fraiseql.query(sql_source="v_order")
    def orders(limit: int = 20) -> list[Order]: ...

    fraiseql.export_schema(path)


@pytest.fixture
def app_dir(tmp_path, fraiseql_bin):
    make_database(tmp_path / "app.db")
    export_order_schema(tmp_path / "schema.json")
    (tmp_path / "fraiseql.test.toml").write_text(
        "[database]\n"
        f"url = {json.dumps('sqlite://' + str((tmp_path / 'app.db').resolve()))}\n"
        "\n[fraiseql]\n"
        'schema_file = "schema.json"\n'
    )
    return tmp_path


@pytest.mark.asyncio
async def test_queries_against_a_real_server(app_dir, fraiseql_bin):
    async with FraiseQLTestClient(config=app_dir / "fraiseql.test.toml", binary=fraiseql_bin) as client:
        result = await client.execute("{ orders(limit: 10) { id totalAmount: total status } }")
        rows = sorted(data(result, "orders"), key=lambda row: row["id"])
        assert rows == [
            {"id": "ord-1", "totalAmount": 49.99, "status": "pending"},
            {"id": "ord-2", "totalAmount": 10.5, "status": "shipped"},
            {"id": "ord-3", "totalAmount": 120.0, "status": "paid"},
        ]

        result = await client.execute('{ order(id: "ord-2") { identifier createdAt } }')
        assert result == {"data": {"order": {"identifier": "ORD-002", "createdAt": "2024-01-16T08:00:00Z"}}}

        result = await client.execute(
            "query One($id: ID!) { order(id: $id) { identifier } }",
            variables={"id": "ord-3"},
            operation_name="One",
        )
        assert result == {"data": {"order": {"identifier": "ORD-003"}}}

        result = await client.execute('{ order(id: "no-such-order") { identifier } }')
        assert result == {"data": {"order": None}}

        result = await client.execute("{ orders(limit: 2) { id } }")
        assert len(data(result, "orders")) == 2


@pytest.mark.asyncio
async def test_create_with_default_config_name(app_dir, fraiseql_bin, monkeypatch):
    """The seed's form: `FraiseQLTestClient.create(config="fraiseql.test.toml")` from the app dir."""
    monkeypatch.chdir(app_dir)
    client = await FraiseQLTestClient.create(config="fraiseql.test.toml")
    try:
        result = await client.execute("{ orders { identifier } }")
        identifiers = sorted(row["identifier"] for row in data(result, "orders"))
        assert identifiers == ["ORD-001", "ORD-002", "ORD-003"]
    finally:
        await client.close()

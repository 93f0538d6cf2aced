"""``FraiseQLTestClient.set_token`` against a server with ``[auth]``: without a token the
server answers 401 UNAUTHENTICATED, with a valid HS256 token the query runs, with a forged
one it is refused again; ``set_token(None)`` stops sending it."""

import base64
import hashlib
import hmac
import json
import sqlite3
import time

import pytest

import fraiseql
from fraiseql.scalars import ID
from fraiseql.testing import FraiseQLTestClient

from .test_server import export_order_schema, make_database

pytestmark = pytest.mark.integration

SECRET = "an-sdk-test-secret-of-32-bytes-or-more"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict, secret: str = SECRET) -> str:
    """A JWT signed with HMAC-SHA256 (the standard library is enough for HS256)."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


@pytest.fixture
def app_dir(tmp_path):
    make_database(tmp_path / "app.db")
    export_order_schema(tmp_path / "schema.json")
    (tmp_path / "fraiseql.test.toml").write_text(
        "[database]\n"
        f"url = {json.dumps('sqlite://' + str((tmp_path / 'app.db').resolve()))}\n"
        '\n[fraiseql]\nschema_file = "schema.json"\n'
        f'\n[auth]\nsecret = "{SECRET}"\naudience = "sdk-tests"\n'
    )
    return tmp_path


@pytest.mark.asyncio
async def test_set_token_authenticates_every_later_request(app_dir, fraiseql_bin):
    async with FraiseQLTestClient(config=app_dir / "fraiseql.test.toml", binary=fraiseql_bin) as client:
        query = "{ orders(limit: 1) { identifier } }"
        refused = await client.execute(query)
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", refused

        now = int(time.time())
        client.set_token(hs256({"sub": "alice", "aud": "sdk-tests", "exp": now + 300}))
        answer = await client.execute(query)
        assert "errors" not in answer and len(answer["data"]["orders"]) == 1, answer

        for bad in (
            hs256({"sub": "alice", "aud": "sdk-tests", "exp": now - 300}),
            hs256({"sub": "alice", "aud": "sdk-tests", "exp": now + 300}, secret="x" * 40),
            hs256({"sub": "alice", "aud": "elsewhere", "exp": now + 300}),
        ):
            client.set_token(bad)
            answer = await client.execute(query)
            assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", answer

        client.set_token(None)
        assert "Authorization" not in client.headers
        assert (await client.execute(query))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.asyncio
async def test_an_injected_claim_filters_an_sdk_query(tmp_path, fraiseql_bin):
    """``inject={"status": "jwt:status"}`` authored in Python: each caller sees the orders
    whose status is their token's claim, and cannot ask for another."""
    make_database(tmp_path / "app.db")
    fraiseql.reset_registry()

    @fraiseql.type(sql_source="v_order")
    class Order:
        id: ID
        identifier: str
        status: str

    @fraiseql.query(sql_source="v_order", inject={"status": "jwt:status"})
    def my_orders() -> list[Order]: ...

    fraiseql.export_schema(tmp_path / "schema.json")
    (tmp_path / "fraiseql.test.toml").write_text(
        "[database]\n"
        f"url = {json.dumps('sqlite://' + str((tmp_path / 'app.db').resolve()))}\n"
        '\n[fraiseql]\nschema_file = "schema.json"\n'
        f'\n[auth]\nsecret = "{SECRET}"\n'
    )
    now = int(time.time())
    async with FraiseQLTestClient(config=tmp_path / "fraiseql.test.toml", binary=fraiseql_bin) as client:
        query = "{ myOrders { identifier } }"
        for status, wanted in (("shipped", ["ORD-002"]), ("paid", ["ORD-003"]), ("' OR 1=1 --", [])):
            client.set_token(hs256({"sub": "alice", "status": status, "exp": now + 300}))
            answer = await client.execute(query)
            assert [o["identifier"] for o in answer["data"]["myOrders"]] == wanted, answer
        client.set_token(hs256({"sub": "alice", "exp": now + 300}))
        answer = await client.execute(query)
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN", answer
        answer = await client.execute('{ myOrders(status: "paid") { identifier } }')
        assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", answer


@pytest.mark.asyncio
async def test_set_tenant_names_the_tenant_of_every_later_request(tmp_path, fraiseql_bin):
    """``set_tenant`` with ``[multi_tenancy]``: the view reads ``app.tenant_id``, so each
    tenant sees its own orders; a hostile id and no tenant at all are refused."""
    make_database(tmp_path / "app.db")
    with sqlite3.connect(tmp_path / "app.db") as db:
        db.executescript(
            """
            ALTER TABLE tb_order ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'tenant-a';
            UPDATE tb_order SET tenant_id = 'tenant-b' WHERE id = 'ord-2';
            DROP VIEW v_order;
            CREATE VIEW v_order AS SELECT id, json_object('id', id, 'identifier', identifier,
              'total', total, 'status', status, 'created_at', created_at) AS data
              FROM tb_order WHERE tenant_id = current_setting('app.tenant_id', 1);
            """
        )
    export_order_schema(tmp_path / "schema.json")
    (tmp_path / "fraiseql.test.toml").write_text(
        "[database]\n"
        f"url = {json.dumps('sqlite://' + str((tmp_path / 'app.db').resolve()))}\n"
        '\n[fraiseql]\nschema_file = "schema.json"\n\n[multi_tenancy]\n'
    )
    async with FraiseQLTestClient(config=tmp_path / "fraiseql.test.toml", binary=fraiseql_bin) as client:
        query = "{ orders { identifier } }"
        refused = await client.execute(query)
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", refused
        for tenant, wanted in (("tenant-a", ["ORD-001", "ORD-003"]), ("tenant-b", ["ORD-002"]), ("tenant-c", [])):
            client.set_tenant(tenant)
            answer = await client.execute(query)
            assert sorted(o["identifier"] for o in answer["data"]["orders"]) == wanted, answer
        client.set_tenant("tenant-a' OR '1'='1")
        assert (await client.execute(query))["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        client.set_tenant(None)
        assert "X-Tenant-ID" not in client.headers

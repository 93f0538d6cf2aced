"""A subscription authored with the SDK, served live: seed 002's
``@fraiseql.subscription(entity_type="Order", topic=...)`` with an ``order_id`` argument,
exported to schema.json and run by the real server over SQLite with the embedded event bus.
A change committed to an order reaches a graphql-transport-ws client with exactly the
selected fields; the argument filters other orders out."""

import asyncio
import json
import sqlite3

import pytest
from websockets.asyncio.client import connect

import fraiseql
from fraiseql.scalars import ID
from fraiseql.testing import FraiseQLTestClient

from .test_server import make_database

pytestmark = pytest.mark.integration

TOPIC = "events.order.status_updated"


def export_schema(path):
    fraiseql.reset_registry()

    @fraiseql.type
    class Order:
        id: ID
        identifier: str
        status: str

    @fraiseql.query(sql_source="v_order")
    def orders(limit: int = 20) -> list[Order]: ...

    @fraiseql.subscription(entity_type="Order", topic=TOPIC)
    def order_status_updated(order_id: ID | None = None) -> Order:
        """Subscribe to order status changes in real time."""

    fraiseql.export_schema(path)


@pytest.fixture
def app_dir(tmp_path):
    make_database(tmp_path / "app.db")
    export_schema(tmp_path / "schema.json")
    (tmp_path / "fraiseql.test.toml").write_text(
        "[database]\n"
        f"url = {json.dumps('sqlite://' + str((tmp_path / 'app.db').resolve()))}\n"
        '\n[fraiseql]\nschema_file = "schema.json"\n'
        '\n[observers]\nbackend = "memory"\npoll_interval_ms = 20\n'
        f'\n[[observers.rules]]\ntable = "tb_order"\nevent = "UPDATE"\nsubject = "{TOPIC}"\n'
    )
    return tmp_path


async def subscribe(url, query, variables):
    ws = await connect(url, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authToken": "later"}}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
    # Answered after the subscription is registered: nothing committed later is missed.
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await ws.recv()) == {"type": "pong"}
    return ws


@pytest.mark.asyncio
async def test_an_sdk_subscription_pushes_committed_changes(app_dir, fraiseql_bin):
    async with FraiseQLTestClient(config=app_dir / "fraiseql.test.toml", binary=fraiseql_bin) as client:
        sdl = await client.execute("{ __schema { subscriptionType { fields { name args { name } } } } }")
        fields = sdl["data"]["__schema"]["subscriptionType"]["fields"]
        assert fields == [{"name": "orderStatusUpdated", "args": [{"name": "orderId"}]}]

        url = f"ws://{client.host}:{client.port}/graphql"
        query = "subscription ($id: ID) { orderStatusUpdated(orderId: $id) { identifier status } }"
        mine = await subscribe(url, query, {"id": "ord-2"})
        everyone = await subscribe(url, query, {})
        try:
            with sqlite3.connect(app_dir / "app.db") as db:
                db.execute("UPDATE tb_order SET status = 'cancelled' WHERE id = 'ord-1'")
            with sqlite3.connect(app_dir / "app.db") as db:
                db.execute("UPDATE tb_order SET status = 'returned' WHERE id = 'ord-2'")

            async def next_order(ws):
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert message["type"] == "next", message
                return message["payload"]["data"]["orderStatusUpdated"]

            assert await next_order(everyone) == {"identifier": "ORD-001", "status": "cancelled"}
            assert await next_order(everyone) == {"identifier": "ORD-002", "status": "returned"}
            # The filtered one skipped ord-1.
            assert await next_order(mine) == {"identifier": "ORD-002", "status": "returned"}
        finally:
            await mine.close()
            await everyone.close()

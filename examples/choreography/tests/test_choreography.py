"""Seed 002's tests, fixed (the seed sleeps a fixed 3 s, sends an undefined TEST_TOKEN and
uses pytest-asyncio with httpx; here: polling with a 5 s deadline, the standard library
for HTTP). Run by test.sh against a running example (`run.sh`): CHOREOGRAPHY_URL,
DATABASE_URL, NATS_URL and CHOREOGRAPHY_STREAM say where it is."""

import asyncio
import json
import os
import time
import urllib.request
import uuid

import asyncpg
import nats

URL = os.environ.get("CHOREOGRAPHY_URL", "http://127.0.0.1:8080")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fraiseql_choreography")
NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def graphql(query):
    request = urllib.request.Request(
        f"{URL}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def create_order(identifier, total, extra=""):
    answer = graphql(
        f'mutation {{ createOrder(input: {{ identifier: "{identifier}", total: "{total}"{extra} }}) {{ id status }} }}'
    )
    assert "errors" not in answer, answer
    return answer["data"]["createOrder"]


def wait_for_status(order_id, wanted, within=5.0):
    deadline = time.monotonic() + within
    while True:
        status = graphql(f'query {{ order(id: "{order_id}") {{ status }} }}')["data"]["order"]["status"]
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def sql(query, *args):
    async def go():
        conn = await asyncpg.connect(DATABASE_URL)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


def reserved(sku):
    return sql(
        "SELECT i.reserved FROM tb_inventory i JOIN tb_product p ON p.pk_product = i.fk_product WHERE p.identifier = $1",
        sku,
    )[0]["reserved"]


def events_of(order_id):
    rows = sql(
        """SELECT l.event_type, l.data FROM tb_event_log l JOIN tb_order o ON o.pk_order = l.fk_order
           WHERE o.id = $1::uuid ORDER BY l.pk_event_log""",
        order_id,
    )
    return [(r["event_type"], json.loads(r["data"])) for r in rows]


def wait_for_events(order_id, wanted, within=5.0):
    deadline = time.monotonic() + within
    while True:
        types = [t for t, _ in events_of(order_id)]
        if all(w in types for w in wanted) or time.monotonic() > deadline:
            return types
        time.sleep(0.05)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_full_order_choreography():
    before = reserved("WIDGET-1")
    order = create_order(unique("ord-test"), "49.99")
    assert order["status"] == "pending"
    assert wait_for_status(order["id"], "shipped") == "shipped"
    flow = ["events.order.created", "events.inventory.reserved", "events.payment.charged", "events.order.shipped"]
    types = wait_for_events(order["id"], flow)
    assert [t for t in types if t in flow] == flow, types
    assert reserved("WIDGET-1") == before + 1
    created = dict(events_of(order["id"]))["events.order.created"]
    assert created["order_id"] == order["id"]
    assert created["items"] == [{"sku": "WIDGET-1", "quantity": 1}]


def test_payment_failure_compensation():
    before = reserved("WIDGET-1")
    order = create_order(unique("ord-bad-card"), "49.99")
    assert wait_for_status(order["id"], "failed") == "failed"
    types = wait_for_events(order["id"], ["events.payment.failed", "events.order.failed"])
    assert "events.inventory.reserved" in types and "events.payment.charged" not in types, types
    failed = dict(events_of(order["id"]))["events.order.failed"]
    assert failed == {"order_id": order["id"], "reason": "payment_failed", "compensated": True}
    assert reserved("WIDGET-1") == before, "the reservation was released"
    # Over the card limit (the seed's ord-fail-001 with 9999.99) fails the same way.
    big = create_order(unique("ord-fail"), "9999.99")
    assert wait_for_status(big["id"], "failed") == "failed"


def test_sold_out_fails_at_inventory_without_reserving():
    order = create_order(unique("ord-sold-out"), "19.99", ', sku: "SOLD-OUT"')
    assert wait_for_status(order["id"], "failed") == "failed"
    types = wait_for_events(order["id"], ["events.order.failed"])
    assert "events.inventory.reserved" not in types, types
    failed = dict(events_of(order["id"]))["events.order.failed"]
    assert failed["reason"] == "inventory_unavailable" and failed["sku"] == "SOLD-OUT"
    assert reserved("SOLD-OUT") == 0


def test_bad_input_is_refused_before_any_event():
    answer = graphql('mutation { createOrder(input: { identifier: "x", total: "-1" }) { id } }')
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    answer = graphql('mutation { createOrder(input: { identifier: "y", total: "1", sku: "NOPE" }) { id } }')
    assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", answer
    assert sql("SELECT count(*) AS n FROM tb_order WHERE identifier IN ('x', 'y')")[0]["n"] == 0


def test_a_redelivered_event_does_not_reserve_twice():
    order = create_order(unique("ord-dup"), "49.99")
    assert wait_for_status(order["id"], "shipped") == "shipped"
    after = reserved("WIDGET-1")
    created = dict(events_of(order["id"]))["events.order.created"]
    ce_id = sql(
        """SELECT l.event_id FROM tb_event_log l JOIN tb_order o ON o.pk_order = l.fk_order
           WHERE o.id = $1::uuid AND l.event_type = 'events.order.created'""",
        order["id"],
    )[0]["event_id"]

    async def redeliver():
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        # The same event again (a producer's retry after the duplicate window): same ce-id.
        await js.publish(
            "events.order.created",
            json.dumps(created).encode(),
            headers={"ce-id": ce_id, "Nats-Msg-Id": f"retry-{ce_id}"},
        )
        await nc.close()

    asyncio.run(redeliver())
    time.sleep(1.0)
    assert reserved("WIDGET-1") == after, "the inventory worker handled the event once"

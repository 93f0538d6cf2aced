"""The order service's subscription (`orderStatusUpdated`, fed by its own
events.order.status_updated events through JetStream) seen by a WebSocket client, the
example's watch.py: each status change of an order arrives, in order, as the choreography
moves it along. Runs against the example test.sh started (CHOREOGRAPHY_URL)."""

import asyncio
import os
import sys
import uuid

from test_choreography import URL, create_order, graphql, sql, unique

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from watch import Subscription  # noqa: E402

# Where an order can end, and the order statuses move in (fn_update_order_status).
FINAL = ("shipped", "failed")
FORWARD = {"pending": 0, "paid": 1, "shipped": 2, "failed": 2}


def status_updates(order_id):
    """How many events.order.status_updated the monitor logged for the order (their body is
    the tb_order row, so the order is `data->>'id'`)."""
    return sql(
        """SELECT count(*) AS n FROM tb_event_log
           WHERE event_type = 'events.order.status_updated' AND data::jsonb->>'id' = $1""",
        order_id,
    )


async def follow(identifier, total, within=10.0):
    """Subscribes (to every order, and to one that does not exist), creates an order, and
    collects what the subscriptions push about it until it is done and every
    status_updated event the monitor logged for it has arrived."""
    everything = await Subscription.open(URL)
    nobody = await Subscription.open(URL, str(uuid.uuid4()))
    seen, stray = [], []

    async def collect(subscription, into, order_id):
        async for order in subscription:
            if order["id"] == await order_id:
                into.append(order["status"])

    order_id = asyncio.get_running_loop().create_future()
    tasks = [
        asyncio.create_task(collect(everything, seen, order_id)),
        asyncio.create_task(collect(nobody, stray, order_id)),
    ]
    try:
        order = await asyncio.to_thread(create_order, identifier, total)
        order_id.set_result(order["id"])
        async with asyncio.timeout(within):
            while True:
                answer = await asyncio.to_thread(graphql, f'{{ order(id: "{order["id"]}") {{ status }} }}')
                status = answer["data"]["order"]["status"]
                changes = (await asyncio.to_thread(status_updates, order["id"]))[0]["n"]
                if status in FINAL and changes and len(seen) >= changes:
                    break
                for task in tasks:
                    if task.done():
                        task.result()
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # nothing more arrives
        return status, changes, seen, stray
    finally:
        for task in tasks:
            task.cancel()
        await everything.close()
        await nobody.close()


def check(status, changes, seen, stray, final):
    assert status == final
    # One message per committed change, in commit order. Each carries the order as its
    # view shows it when the event is delivered, so statuses only move forward and the
    # last is where the order ended.
    assert len(seen) == changes, (seen, changes)
    assert seen[-1] == final, seen
    assert [FORWARD[s] for s in seen] == sorted(FORWARD[s] for s in seen), seen
    assert "pending" not in seen, seen
    assert stray == [], "a subscription for another order got this one's changes"


def test_a_subscriber_sees_an_order_move_to_shipped():
    status, changes, seen, stray = asyncio.run(follow(unique("ord-watch"), "49.99"))
    check(status, changes, seen, stray, "shipped")
    # pending -> paid -> shipped, or straight to shipped when shipping's event was handled
    # first (the paid update then changes nothing and sends nothing).
    assert changes in (1, 2)


def test_a_subscriber_sees_a_failed_payment():
    status, changes, seen, stray = asyncio.run(follow(unique("ord-watch-bad-card"), "49.99"))
    check(status, changes, seen, stray, "failed")
    assert seen == ["failed"]

"""Inventory worker (seed 002): on events.order.created, reserve stock for every item, then
publish events.inventory.reserved; when an item is short, reserve nothing and publish
events.order.failed (reason inventory_unavailable) once."""

import asyncio
import json

from common import once, publish, run


async def on_order_created(msg, js, pool):
    data = json.loads(msg.data)
    order_id, items = data["order_id"], data["items"]

    async def reserve(conn):
        for item in items:
            row = await conn.fetchrow(
                """SELECT i.pk_inventory, i.quantity, i.reserved FROM tb_inventory i
                   JOIN tb_product p ON p.pk_product = i.fk_product
                   WHERE p.identifier = $1 FOR UPDATE""",
                item["sku"],
            )
            if row is None or row["quantity"] - row["reserved"] < item["quantity"]:
                # The transaction rolls back every reservation made so far.
                raise Short(item["sku"])
            await conn.execute(
                "UPDATE tb_inventory SET reserved = reserved + $1 WHERE pk_inventory = $2",
                item["quantity"],
                row["pk_inventory"],
            )
        return "reserved"

    try:
        outcome = await once(pool, "inventory", msg, reserve)
    except Short as short:
        await publish(
            js,
            "events.order.failed",
            {"order_id": order_id, "reason": "inventory_unavailable", "sku": short.sku},
            f"order-failed-{order_id}",
        )
        await msg.ack()
        return
    if outcome == "reserved":
        await publish(js, "events.inventory.reserved", {"order_id": order_id}, f"inventory-reserved-{order_id}")
    await msg.ack()


class Short(Exception):
    def __init__(self, sku):
        super().__init__(sku)
        self.sku = sku


if __name__ == "__main__":
    asyncio.run(run("inventory-worker", [("events.order.created", "inventory_processors", on_order_created)]))

"""Shipping worker (seed 002): on events.payment.charged, create the shipping label and
publish events.order.shipped."""

import asyncio
import json
import uuid

from common import once, publish, run


def create_shipping_label(order_pk, address):
    """A deterministic local stand-in for the seed's undefined carrier API."""
    label = uuid.uuid5(uuid.NAMESPACE_URL, f"label-{order_pk}-{address}").hex
    return {"id": f"lbl_{label[:12]}", "carrier": "DEMO", "tracking_number": f"TRK{label[12:24].upper()}"}


async def on_payment_charged(msg, js, pool):
    order_id = json.loads(msg.data)["order_id"]

    async def ship(conn):
        order = await conn.fetchrow(
            "SELECT pk_order, shipping_address FROM tb_order WHERE id = $1::uuid", order_id
        )
        if order is None:
            return None
        label = create_shipping_label(order["pk_order"], order["shipping_address"])
        await conn.execute(
            """INSERT INTO tb_shipping (fk_order, provider_label_id, carrier, tracking_number)
               VALUES ($1, $2, $3, $4)""",
            order["pk_order"],
            label["id"],
            label["carrier"],
            label["tracking_number"],
        )
        return label["tracking_number"]

    tracking = await once(pool, "shipping", msg, ship)
    if tracking:
        await publish(
            js,
            "events.order.shipped",
            {"order_id": order_id, "tracking_number": tracking},
            f"order-shipped-{order_id}",
        )
    await msg.ack()


if __name__ == "__main__":
    asyncio.run(run("shipping-worker", [("events.payment.charged", "shipping_handlers", on_payment_charged)]))

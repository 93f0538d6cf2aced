"""Payment worker (seed 002): on events.inventory.reserved, charge the card and publish
events.payment.charged, or events.payment.failed when it is declined; on
events.payment.failed, release the reserved stock and publish events.order.failed
(reason payment_failed, compensated)."""

import asyncio
import json
import uuid

from common import once, publish, run

# The stand-in card processor declines totals above this, and identifiers containing
# "bad-card" (the seed's tests use both: `ord-fail-001` for 9999.99, `ord-bad-card-1`).
CARD_LIMIT = 5000


def charge_credit_card(identifier, amount):
    """A deterministic local stand-in for the seed's undefined payment provider."""
    if amount > CARD_LIMIT or "bad-card" in identifier:
        raise Declined("card declined")
    return f"ch_{uuid.uuid5(uuid.NAMESPACE_URL, identifier).hex[:16]}"


class Declined(Exception):
    pass


async def on_inventory_reserved(msg, js, pool):
    order_id = json.loads(msg.data)["order_id"]

    async def charge(conn):
        order = await conn.fetchrow(
            "SELECT pk_order, identifier, total FROM tb_order WHERE id = $1::uuid", order_id
        )
        if order is None:
            return None
        try:
            provider_id = charge_credit_card(order["identifier"], order["total"])
        except Declined as declined:
            return ("failed", str(declined))
        payment = await conn.fetchval(
            """INSERT INTO tb_payment (fk_order, amount, status, provider_id)
               VALUES ($1, $2, 'succeeded', $3) RETURNING id""",
            order["pk_order"],
            order["total"],
            provider_id,
        )
        return ("charged", str(payment), float(order["total"]))

    outcome = await once(pool, "payment", msg, charge)
    if outcome and outcome[0] == "charged":
        await publish(
            js,
            "events.payment.charged",
            {"order_id": order_id, "payment_id": outcome[1], "amount": outcome[2]},
            f"payment-charged-{order_id}",
        )
    elif outcome and outcome[0] == "failed":
        await publish(
            js, "events.payment.failed", {"order_id": order_id, "reason": outcome[1]}, f"payment-failed-{order_id}"
        )
    await msg.ack()


async def on_payment_failed(msg, js, pool):
    order_id = json.loads(msg.data)["order_id"]

    async def release(conn):
        await conn.execute(
            """UPDATE tb_inventory i SET reserved = i.reserved - oi.quantity
               FROM tb_order_item oi JOIN tb_order o ON o.pk_order = oi.fk_order
               WHERE o.id = $1::uuid AND i.fk_product = oi.fk_product""",
            order_id,
        )
        return "released"

    if await once(pool, "compensation", msg, release) == "released":
        await publish(
            js,
            "events.order.failed",
            {"order_id": order_id, "reason": "payment_failed", "compensated": True},
            f"order-failed-{order_id}",
        )
    await msg.ack()


if __name__ == "__main__":
    asyncio.run(
        run(
            "payment-worker",
            [
                ("events.inventory.reserved", "payment_processors", on_inventory_reserved),
                ("events.payment.failed", "compensation_handlers", on_payment_failed),
            ],
        )
    )

"""Event monitor (seed 002): records every event on events.> in tb_event_log, once each
(keyed by event id), with its order when it names one."""

import asyncio
import json

from common import event_id, run


async def monitor_events(msg, js, pool):
    try:
        data = json.loads(msg.data)
    except ValueError:
        data = {"raw": msg.data.decode("utf-8", "replace")}
    order_id = data.get("order_id") if isinstance(data, dict) else None
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO tb_event_log (event_id, event_type, fk_order, data)
               VALUES ($1, $2, (SELECT pk_order FROM tb_order WHERE id::text = $3), $4::jsonb)
               ON CONFLICT (event_id) DO NOTHING""",
            event_id(msg),
            msg.subject,
            order_id,
            json.dumps(data),
        )
    if "failed" in msg.subject:
        print(f"[monitor] ALERT {msg.subject}: {json.dumps(data)}", flush=True)
    await msg.ack()


if __name__ == "__main__":
    asyncio.run(run("event-monitor", [("events.>", "event_monitoring", monitor_events)]))

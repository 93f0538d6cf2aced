"""What the four workers share: connections, a durable JetStream consumer, idempotent
handling by event id, and publishing with a deterministic Nats-Msg-Id.

Fixes to the seed's workers (see the README): one connection pool per worker instead of a
connection per message; no `msg._client`; a business failure is published once and the
message acknowledged (the seed published it and then `nak`ed, so every redelivery published
it again); each event is handled at most once per worker (`tb_processed`, in the same
transaction as the work), so a redelivery after a crash cannot reserve stock twice; every
event a worker publishes has a `Nats-Msg-Id` derived from the order and the step, so a
retry is dropped by JetStream's duplicate window.
"""

import asyncio
import json
import os
import signal

import asyncpg
import nats
import nats.js.errors

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
DATABASE_URL = os.environ["DATABASE_URL"]


def event_id(msg):
    """The id of a delivered event: its CloudEvents id (`ce-id`, which FraiseQL sets), else
    Nats-Msg-Id (which the workers set), else its stream sequence."""
    headers = msg.headers or {}
    return headers.get("ce-id") or headers.get("Nats-Msg-Id") or f"seq:{msg.metadata.sequence.stream}"


async def publish(js, subject, body, msg_id):
    await js.publish(subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": msg_id})


async def once(pool, worker, msg, work):
    """Runs `work(conn)` in a transaction unless this worker handled the event before;
    returns what `work` returned, or None for a repeat."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            done = await conn.execute(
                "INSERT INTO tb_processed (worker, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                worker,
                event_id(msg),
            )
            if done == "INSERT 0 0":
                return None
            return await work(conn)


async def run(name, subscriptions):
    """Connects, subscribes each `(subject, durable, handler)` with a durable consumer, and
    runs until SIGTERM/SIGINT. `handler(msg, js, pool)` acknowledges."""
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=4)
    nc = await nats.connect(NATS_URL, name=name, max_reconnect_attempts=-1)
    js = nc.jetstream()
    stream = os.environ.get("CHOREOGRAPHY_STREAM", "fraiseql_choreography")
    for subject, durable, handler in subscriptions:
        async def callback(msg, handler=handler):
            try:
                await handler(msg, js, pool)
            except Exception as exc:  # a crash of ours, not a business failure: retry later
                print(f"[{name}] {msg.subject}: {exc!r}; redelivering", flush=True)
                await msg.nak(delay=1)

        # The order service creates the stream when it starts: wait for it.
        for attempt in range(120):
            try:
                # A queue group of the durable's name: several instances of a worker share
                # its messages (the seed's "scale horizontally"; a plain durable push
                # consumer takes one subscriber only).
                await js.subscribe(
                    subject, queue=durable, durable=durable, stream=stream, cb=callback, manual_ack=True
                )
                break
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.5)
        else:
            raise SystemExit(f"[{name}] stream {stream} does not exist")
    print(f"[{name}] listening on {', '.join(s for s, _, _ in subscriptions)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await nc.drain()
    await pool.close()

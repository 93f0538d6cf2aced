"""Watches orders move along, live: a GraphQL subscription (`orderStatusUpdated`) over
WebSocket with the graphql-transport-ws protocol, printing each status change as the order
service commits it.

    target/venv-choreography/bin/python examples/choreography/watch.py [ORDER_ID] [--url URL]

Without ORDER_ID every order is watched. The tests (tests/test_subscription.py) use the same
client.
"""

import argparse
import asyncio
import json

from websockets.asyncio.client import connect

QUERY = "subscription ($id: ID) { orderStatusUpdated(orderId: $id) { id identifier status } }"


class Subscription:
    """`orderStatusUpdated` on one WebSocket: `await Subscription.open(url, order_id)`, then
    `async for order in subscription` (`{"id", "identifier", "status"}` each), then
    `await subscription.close()`."""

    def __init__(self, ws):
        self.ws = ws
        self.early = []

    @classmethod
    async def open(cls, url, order_id=None):
        """Connects to the order service at `url` (http://host:port) and subscribes; returns
        once the server holds the subscription (it answers a `ping` sent after the
        `subscribe` only after registering it), so no change committed later is missed."""
        ws = await connect(url.replace("http", "ws", 1).rstrip("/") + "/graphql", subprotocols=["graphql-transport-ws"])
        subscription = cls(ws)
        try:
            await ws.send(json.dumps({"type": "connection_init"}))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"the server did not acknowledge the connection: {ack}")
            variables = {"id": order_id} if order_id else {}
            payload = {"query": QUERY, "variables": variables}
            await ws.send(json.dumps({"id": "orders", "type": "subscribe", "payload": payload}))
            await ws.send(json.dumps({"type": "ping"}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "pong":
                    return subscription
                subscription.early.append(message)
        except BaseException:
            await ws.close()
            raise

    async def __aiter__(self):
        while self.early:
            order = await self._take(self.early.pop(0))
            if order is not None:
                yield order
        async for raw in self.ws:
            order = await self._take(json.loads(raw))
            if order is not None:
                yield order

    async def _take(self, message):
        kind = message.get("type")
        if kind == "ping":
            await self.ws.send(json.dumps({"type": "pong"}))
        elif kind == "next":
            payload = message["payload"]
            if payload.get("errors"):
                raise RuntimeError(f"the server sent errors: {payload['errors']}")
            return payload["data"]["orderStatusUpdated"]
        elif kind in ("error", "complete"):
            raise RuntimeError(f"the subscription ended: {message}")
        return None

    async def close(self):
        await self.ws.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("order_id", nargs="?", help="watch one order (default: all)")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the order service")
    args = parser.parse_args()
    subscription = await Subscription.open(args.url, args.order_id)
    print(f"watching {args.order_id or 'every order'} (Ctrl-C stops)", flush=True)
    try:
        async for order in subscription:
            print(f"{order['identifier']} {order['id']}: {order['status']}", flush=True)
    finally:
        await subscription.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

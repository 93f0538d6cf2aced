// graphql-transport-ws and the legacy graphql-ws subprotocol frame by frame (the `ws`
// package, no GraphQL client in between) against `fraiseql run` on the quickstart: every
// message type, every close code, both subprotocols and paths, duplicate ids, malformed
// and oversized frames, the limits, and clients that never read.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { startQuickstart } from '../support/quickstart.mjs';
import { open, stalled } from './frames.mjs';
import { metric, metrics } from './metrics.mjs';

const ORDER_4 = 'a0000000-0000-4000-8000-000000000004';
const ORDER_5 = 'a0000000-0000-4000-8000-000000000005';
const setStatus = (id, status) => `mutation { updateOrderStatus(id: "${id}", status: ${status}) { status } }`;
const WATCH_5 = `subscription { orderStatusChanged(orderId: "${ORDER_5}") { identifier status } }`;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// One server for the protocol: short init timeout, small messages, three operations a
// connection. Each limit test below starts its own.
let server;
before(async () => {
  server = await startQuickstart([
    '[subscriptions]',
    'connection_init_timeout_ms = 400',
    'max_message_size = "4KB"',
    'max_subscriptions_per_connection = 3',
  ].join('\n'));
});
after(async () => { await server?.stop(); });

/** Polls /metrics until `check(text)` holds; fails with the text after 20 s. */
async function until(origin, what, check) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await metrics(origin);
    if (check(text)) return text;
    assert.ok(Date.now() < deadline, `${what} never happened:\n${text}`);
    await sleep(50);
  }
}

/** The server process's resident memory in KiB (Linux /proc). */
function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
}

test('graphql-transport-ws: every message type', async () => {
  const c = await open(server.port);
  await c.ready({ authToken: 'for-later', tenantId: 't1' });
  // ping with and without a payload; a pong from the client is taken quietly.
  c.send({ type: 'ping', payload: { n: 1 } });
  assert.deepEqual(await c.next(), { type: 'pong', payload: { n: 1 } });
  c.send({ type: 'ping' });
  assert.deepEqual(await c.next(), { type: 'pong' });
  c.send({ type: 'pong', payload: { ignored: true } });

  // A query: next, then complete.
  c.send({ id: 'q', type: 'subscribe', payload: { query: `{ order(id: "${ORDER_4}") { identifier } }` } });
  assert.deepEqual(await c.next(), { id: 'q', type: 'next', payload: { data: { order: { identifier: 'ORD-004' } } } });
  assert.deepEqual(await c.next(), { id: 'q', type: 'complete' });

  // A subscription: a `next` per committed change, nothing else until the client's complete.
  c.send({ id: 's', type: 'subscribe', payload: { query: WATCH_5 } });
  await until(server.origin, 'the subscription', (t) => metric(t, 'fraiseql_subscriptions_active') === 1);
  // A mutation over the same socket, with variables and an operation name.
  c.send({
    id: 'm',
    type: 'subscribe',
    payload: {
      query: 'mutation Pay($id: ID!) { updateOrderStatus(id: $id, status: PAID) { status } }',
      operationName: 'Pay',
      variables: { id: ORDER_5 },
    },
  });
  const got = [await c.next(), await c.next(), await c.next()];
  const byId = (id, type) => got.find((m) => m.id === id && m.type === type);
  assert.deepEqual(byId('m', 'next')?.payload, { data: { updateOrderStatus: { status: 'PAID' } } }, JSON.stringify(got));
  assert.ok(byId('m', 'complete'), JSON.stringify(got));
  assert.deepEqual(byId('s', 'next')?.payload, { data: { orderStatusChanged: { identifier: 'ORD-005', status: 'PAID' } } },
    JSON.stringify(got));
  c.send({ id: 's', type: 'complete' });
  await until(server.origin, 'the unsubscribe', (t) => metric(t, 'fraiseql_subscriptions_active') === 0);
  await server.post(setStatus(ORDER_5, 'PENDING'));
  await sleep(300);
  c.send({ type: 'ping', payload: 'after' });
  assert.deepEqual(await c.next(), { type: 'pong', payload: 'after' }, 'an event arrived after complete');

  // An invalid operation: `error` for its id, with GraphQL errors; the connection stays.
  c.send({ id: 'e', type: 'subscribe', payload: { query: 'subscription { orderStatusChanged { nope } }' } });
  const error = await c.next();
  assert.equal(error.type, 'error');
  assert.equal(error.id, 'e');
  assert.match(error.payload[0].message, /nope/);
  // complete for an id that is not running is ignored.
  c.send({ id: 'never-started', type: 'complete' });
  c.send({ type: 'ping' });
  assert.deepEqual(await c.next(), { type: 'pong' });
  c.ws.close(1000);
  assert.equal((await c.close()).code, 1000);
});

test('both subprotocols on every path; an unknown subprotocol is refused', async () => {
  for (const path of ['/graphql', '/ws', '/subscriptions']) {
    const c = await open(server.port, path);
    assert.equal(c.ws.protocol, 'graphql-transport-ws', path);
    await c.ready();
    c.ws.close();
  }
  // No subprotocol offered: graphql-transport-ws.
  const plain = await open(server.port, '/graphql', null);
  await plain.ready();
  plain.ws.close();
  await assert.rejects(open(server.port, '/graphql', 'mqtt'), /HTTP 400/);

  // Legacy: ack then ka at once; start → data (+ complete for a query); stop ends a
  // subscription; connection_terminate closes with 1000.
  const legacy = await open(server.port, '/ws', 'graphql-ws');
  assert.equal(legacy.ws.protocol, 'graphql-ws');
  await legacy.ready();
  legacy.send({ id: '1', type: 'start', payload: { query: '{ __typename }' } });
  assert.deepEqual(await legacy.next(), { id: '1', type: 'data', payload: { data: { __typename: 'Query' } } });
  assert.deepEqual(await legacy.next(), { id: '1', type: 'complete' });
  legacy.send({ id: '2', type: 'start', payload: { query: WATCH_5 } });
  await until(server.origin, 'the legacy subscription', (t) => metric(t, 'fraiseql_subscriptions_active') === 1);
  await server.post(setStatus(ORDER_5, 'SHIPPED'));
  assert.deepEqual(await legacy.next(),
    { id: '2', type: 'data', payload: { data: { orderStatusChanged: { identifier: 'ORD-005', status: 'SHIPPED' } } } });
  legacy.send({ id: '2', type: 'stop' });
  await until(server.origin, 'the legacy stop', (t) => metric(t, 'fraiseql_subscriptions_active') === 0);
  legacy.send({ type: 'connection_terminate' });
  assert.equal((await legacy.close()).code, 1000);
});

test('every protocol violation closes with its code', async () => {
  const ready = async () => (await open(server.port)).ready();
  for (const bad of [
    'not json',
    '',
    '[1, 2]',
    'null',
    '{"type": "explode"}',
    '{"type": 7}',
    '{"type": "start", "id": "1", "payload": {"query": "{ __typename }"}}',
    '{"type": "subscribe", "payload": {"query": "{ __typename }"}}',
    '{"type": "subscribe", "id": "", "payload": {"query": "{ __typename }"}}',
    '{"type": "subscribe", "id": 1, "payload": {"query": "{ __typename }"}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": 42}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }", "variables": [1]}}',
    '{"type": "subscribe", "id": "1"}',
    '{"type": "connection_init", "payload": "token"}',
  ]) {
    const c = await ready();
    c.send(bad);
    const { code, reason } = await c.close();
    assert.equal(code, 4400, `${bad}: ${reason}`);
    assert.match(reason, /^Invalid message/, bad);
  }
  // A binary frame.
  let c = await ready();
  c.ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await c.close()).code, 4400, 'binary frame');

  // subscribe before connection_ack: 4401.
  c = await open(server.port);
  c.send({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } });
  assert.deepEqual(await c.close(), { code: 4401, reason: 'Unauthorized' });

  // No connection_init in time: 4408.
  c = await open(server.port);
  const started = Date.now();
  assert.equal((await c.close()).code, 4408);
  assert.ok(Date.now() - started < 5_000);

  // A second connection_init: 4429.
  c = await ready();
  c.send({ type: 'connection_init' });
  assert.deepEqual(await c.close(), { code: 4429, reason: 'Too many initialisation requests' });

  // A duplicate id while the first runs: 4409. A finished operation's id is free again.
  c = await ready();
  for (let i = 0; i < 5; i += 1) {
    c.send({ id: 'again', type: 'subscribe', payload: { query: '{ __typename }' } });
    assert.equal((await c.next()).type, 'next');
    assert.deepEqual(await c.next(), { id: 'again', type: 'complete' });
  }
  c.send({ id: 'dup', type: 'subscribe', payload: { query: WATCH_5 } });
  c.send({ id: 'dup', type: 'subscribe', payload: { query: WATCH_5 } });
  assert.deepEqual(await c.close(), { code: 4409, reason: 'Subscriber for dup already exists' });

  // A message over max_message_size (4KB): 1009.
  c = await ready();
  c.send({ id: 'big', type: 'subscribe', payload: { query: `{ __typename } # ${'x'.repeat(5000)}` } });
  assert.equal((await c.close()).code, 1009);

  // The fourth operation on a connection allowed three: an `error` for that id only.
  c = await ready();
  for (const id of ['a', 'b', 'c']) c.send({ id, type: 'subscribe', payload: { query: WATCH_5 } });
  c.send({ id: 'd', type: 'subscribe', payload: { query: WATCH_5 } });
  const refused = await c.next();
  assert.equal(refused.id, 'd');
  assert.equal(refused.type, 'error');
  assert.match(refused.payload[0].message, /max_subscriptions_per_connection/);
  c.send({ id: 'a', type: 'complete' });
  c.send({ id: 'd', type: 'subscribe', payload: { query: WATCH_5 } });
  c.send({ type: 'ping' });
  assert.deepEqual(await c.next(), { type: 'pong' }, 'the freed place was not taken');
  c.ws.close();

  // After all that the server holds no connection and no subscription.
  await until(server.origin, 'every connection closing', (t) => metric(t, 'fraiseql_subscriptions_connections') === 0
    && metric(t, 'fraiseql_subscriptions_active') === 0);
});

test('limits on origins, connections per address and per server have close codes', async () => {
  const guarded = await startQuickstart([
    '[subscriptions]',
    'allowed_origins = ["https://shop.example"]',
    'max_connections_per_ip = 2',
  ].join('\n'));
  const full = await startQuickstart('[subscriptions]\nmax_connections = 2');
  try {
    const shop = { Origin: 'https://shop.example' };
    // Another origin, or none: 4403.
    for (const headers of [{ Origin: 'https://evil.example' }, {}]) {
      const c = await open(guarded.port, '/graphql', 'graphql-transport-ws', headers);
      assert.equal((await c.close()).code, 4403, JSON.stringify(headers));
    }
    // A third connection from one address: 4429; a freed place can be taken again.
    const first = await (await open(guarded.port, '/graphql', 'graphql-transport-ws', shop)).ready();
    const second = await (await open(guarded.port, '/graphql', 'graphql-transport-ws', shop)).ready();
    const third = await open(guarded.port, '/graphql', 'graphql-transport-ws', shop);
    assert.equal((await third.close()).code, 4429);
    first.ws.close();
    await first.close();
    await until(guarded.origin, 'the freed place', (t) => metric(t, 'fraiseql_subscriptions_connections') === 1);
    const again = await (await open(guarded.port, '/graphql', 'graphql-transport-ws', shop)).ready();
    assert.ok(
      metric(await metrics(guarded.origin), 'fraiseql_subscriptions_refused_total{reason="max_connections_per_ip"}') >= 1,
    );
    assert.ok(metric(await metrics(guarded.origin), 'fraiseql_subscriptions_refused_total{reason="origin"}') >= 2);
    second.ws.close();
    again.ws.close();

    // The third connection to a server allowing two: 1013 (try again later).
    const a = await (await open(full.port)).ready();
    const b = await (await open(full.port)).ready();
    const c = await open(full.port);
    assert.equal((await c.close()).code, 1013);
    assert.ok(metric(await metrics(full.origin), 'fraiseql_subscriptions_refused_total{reason="max_connections"}') >= 1);
    a.ws.close();
    b.ws.close();
  } finally {
    await guarded.stop();
    await full.stop();
  }
});

test('a client that never reads is cut off; the server stays responsive and its memory bounded', async () => {
  const slow = await startQuickstart('[subscriptions]\nsend_queue = 4');
  try {
    const before = rssKiB(slow.pid);
    const stuck = await stalled(slow.port);
    await stuck.sendText(JSON.stringify({ type: 'connection_init' }));
    const big = 'subscription { orderStatusChanged { identifier status note items { sku quantity unitPrice } '
      + 'customer { name } statusChanges { status changedAt } } }';
    await stuck.sendText(JSON.stringify({ id: 's', type: 'subscribe', payload: { query: big } }));
    await until(slow.origin, 'the stalled subscription', (t) => metric(t, 'fraiseql_subscriptions_active') === 1);

    // Every order changes status again and again, written straight to the SQLite file: each
    // event's message grows with the order's history.
    const python = `
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for i in range(150):
    con.execute("UPDATE tb_order SET status = ?", (("paid", "shipped", "pending")[i % 3],))
    con.commit()
`;
    const run = spawnSync('python3', ['-c', python, slow.db], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);

    await until(slow.origin, 'the slow consumer being cut off', (t) =>
      metric(t, 'fraiseql_subscriptions_dropped_total{reason="slow_consumer"}') > 0
      && metric(t, 'fraiseql_subscriptions_connections') === 0);
    // The server answers at once, and a client that reads gets its events.
    const started = Date.now();
    const health = await fetch(`${slow.origin}/health`);
    assert.equal(health.status, 200);
    assert.ok(Date.now() - started < 2_000, 'the server is slow to answer');
    const good = await (await open(slow.port)).ready();
    good.send({ id: 'g', type: 'subscribe', payload: { query: `subscription { orderStatusChanged(orderId: "${ORDER_4}") { status } }` } });
    await until(slow.origin, 'the reading subscription', (t) => metric(t, 'fraiseql_subscriptions_active') === 1);
    await slow.post(setStatus(ORDER_4, 'CANCELLED'));
    // The events of the updates above may still be on their way: read until the last one.
    for (;;) {
      const m = await good.next();
      assert.equal(m.type, 'next', JSON.stringify(m));
      if (m.payload.data.orderStatusChanged.status === 'CANCELLED') break;
    }
    good.ws.close();

    // A client that floods pings without reading their pongs is cut off the same way.
    const flood = await stalled(slow.port);
    await flood.sendText(JSON.stringify({ type: 'connection_init' }));
    const ping = JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(1000) } });
    const sent = [];
    for (let i = 0; i < 2000; i += 1) sent.push(flood.sendText(ping));
    await until(slow.origin, 'the flooding client being cut off', (t) =>
      metric(t, 'fraiseql_subscriptions_refused_total{reason="slow_consumer"}') >= 1
      && metric(t, 'fraiseql_subscriptions_connections') === 0);
    flood.destroy();
    stuck.resume();
    await stuck.ended;

    // What the stuck clients cost is gone with them: the queues were bounded.
    const growth = rssKiB(slow.pid) - before;
    assert.ok(growth < 64 * 1024, `the server grew by ${growth} KiB serving two clients that never read`);
  } finally {
    await slow.stop();
  }
});

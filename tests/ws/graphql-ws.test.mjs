// The `graphql-ws` npm client (the reference implementation of graphql-transport-ws, what
// Apollo Client and urql use) against `fraiseql run` on the quickstart: the memory events
// backend, SQLite, no external service. Subscriptions with variables and a selection,
// queries and mutations over the socket, errors, unsubscribe, keep-alive pings, dispose.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { startQuickstart } from '../support/quickstart.mjs';
import { metric, metrics } from './metrics.mjs';

const ORDER_5 = 'a0000000-0000-4000-8000-000000000005';
const ORDER_8 = 'a0000000-0000-4000-8000-000000000008';
const SET_STATUS = 'mutation ($id: ID!, $status: OrderStatus!) { updateOrderStatus(id: $id, status: $status) { status } }';
const WATCH = `subscription ($id: ID) {
  orderStatusChanged(orderId: $id) { identifier status customer { name } }
}`;

let server;
before(async () => { server = await startQuickstart(); });
after(async () => { await server?.stop(); });

/** A graphql-ws client that never retries (a failure must fail the test). */
function client(options = {}) {
  return createClient({
    url: `ws://127.0.0.1:${server.port}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: { authorization: 'Bearer not-checked-yet' },
    onNonLazyError: () => {},
    ...options,
  });
}

/** Runs one operation through `c` and resolves with its single result. */
function once(c, payload) {
  return new Promise((ok, err) => {
    let result;
    c.subscribe(payload, {
      next: (r) => { result = r; },
      error: err,
      complete: () => ok(result),
    });
  });
}

/**
 * Subscribes and collects the results; `count(n)` resolves once `n` arrived (fails after
 * 10 s), `dispose()` unsubscribes.
 */
function collect(c, payload) {
  const results = [];
  let failed = null;
  const dispose = c.subscribe(payload, {
    next: (r) => results.push(r),
    error: (e) => { failed = e; },
    complete: () => {},
  });
  const count = async (n) => {
    const deadline = Date.now() + 10_000;
    while (results.length < n) {
      if (failed) throw new Error(`the subscription failed: ${JSON.stringify(failed)}`);
      assert.ok(Date.now() < deadline, `got ${results.length} of ${n} results: ${JSON.stringify(results)}` +
        `\nserver log:\n${server.log.join('')}`);
      await new Promise((ok) => setTimeout(ok, 10));
    }
    return results.slice(0, n);
  };
  return { results, count, dispose };
}

/** Waits until the server counts `value` active subscriptions. */
async function activeIs(value) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await metrics(server.origin);
    if (metric(text, 'fraiseql_subscriptions_active') === value) return;
    assert.ok(Date.now() < deadline, `active subscriptions never reached ${value}:\n${text}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

test('a subscription gets each committed change with exactly its selection, in order', async () => {
  const c = client();
  try {
    const one = collect(c, { query: WATCH, variables: { id: ORDER_5 } });
    const all = collect(c, { query: WATCH });
    await activeIs(2);
    // Mutations over the same socket, and one over HTTP for another order. Each message
    // carries the order as its view shows it when the event is delivered, so the client
    // waits for each change before making the next.
    const barbara = { name: 'Barbara Liskov' };
    const order5 = (status) => ({ data: { orderStatusChanged: { identifier: 'ORD-005', status, customer: barbara } } });
    for (const [i, status] of ['PAID', 'SHIPPED'].entries()) {
      const r = await once(c, { query: SET_STATUS, variables: { id: ORDER_5, status } });
      assert.deepEqual(r, { data: { updateOrderStatus: { status } } });
      assert.deepEqual((await one.count(i + 1))[i], order5(status));
    }
    const http = await server.post(SET_STATUS, { id: ORDER_8, status: 'CANCELLED' });
    assert.equal(http.status, 200);
    await all.count(3);
    const r = await once(c, { query: SET_STATUS, variables: { id: ORDER_5, status: 'CANCELLED' } });
    assert.equal(r.data.updateOrderStatus.status, 'CANCELLED');

    assert.deepEqual(await one.count(3), ['PAID', 'SHIPPED', 'CANCELLED'].map(order5));
    const seen = (await all.count(4)).map((x) => [x.data.orderStatusChanged.identifier, x.data.orderStatusChanged.status]);
    assert.deepEqual(seen, [['ORD-005', 'PAID'], ['ORD-005', 'SHIPPED'], ['ORD-008', 'CANCELLED'], ['ORD-005', 'CANCELLED']]);

    // A burst: one message per committed change, in commit order, the last with the final
    // state.
    const burst = ['PENDING', 'PAID', 'SHIPPED', 'CANCELLED', 'PAID'];
    await Promise.all(burst.map((status) => server.post(SET_STATUS, { id: ORDER_8, status })));
    const last = await server.post(SET_STATUS, { id: ORDER_8, status: 'SHIPPED' });
    assert.equal(last.body.data.updateOrderStatus.status, 'SHIPPED');
    const afterBurst = await all.count(4 + burst.length + 1);
    assert.equal(afterBurst.at(-1).data.orderStatusChanged.status, 'SHIPPED');
    assert.ok(afterBurst.slice(4).every((x) => x.data.orderStatusChanged.identifier === 'ORD-008'));

    // Unsubscribing sends `complete`: the server forgets both subscriptions.
    one.dispose();
    all.dispose();
    await activeIs(0);
    await once(c, { query: SET_STATUS, variables: { id: ORDER_5, status: 'PENDING' } });
    await new Promise((ok) => setTimeout(ok, 300));
    assert.equal(one.results.length, 3, 'a result arrived after unsubscribe');
    assert.equal(all.results.length, 4 + burst.length + 1, 'a result arrived after unsubscribe');
  } finally {
    await c.dispose();
  }
});

test('queries run over the socket and errors reach the sink', async () => {
  const c = client();
  try {
    const r = await once(c, { query: `{ order(id: "${ORDER_8}") { identifier customer { name } } }` });
    assert.deepEqual(r, { data: { order: { identifier: 'ORD-008', customer: { name: 'Grace Hopper' } } } });

    // An invalid document, bad variables, an unknown enum value: `error` with GraphQL
    // errors, and the connection stays usable.
    for (const payload of [
      { query: 'subscription { orderStatusChanged { nope } }' },
      { query: WATCH, variables: { id: [1, 2] } },
      { query: SET_STATUS, variables: { id: ORDER_5, status: 'LOST' } },
      { query: '{ order(' },
    ]) {
      await assert.rejects(once(c, payload), (errors) => {
        assert.ok(Array.isArray(errors) && errors.length > 0, JSON.stringify(errors));
        assert.equal(typeof errors[0].message, 'string');
        assert.doesNotMatch(errors[0].message, /sqlite|SQL/i, 'a database error reached the client');
        return true;
      }, JSON.stringify(payload));
    }
    assert.deepEqual(await once(c, { query: '{ __typename }' }), { data: { __typename: 'Query' } });
  } finally {
    await c.dispose();
  }
});

test('keep-alive pings are answered and dispose closes normally', async () => {
  let pongs = 0;
  let closed;
  const gone = new Promise((ok) => { closed = ok; });
  const c = client({
    keepAlive: 100,
    on: {
      pong: (received) => { if (received) pongs += 1; },
      closed: (event) => closed(event),
    },
  });
  await once(c, { query: '{ __typename }' });
  await new Promise((ok) => setTimeout(ok, 600));
  assert.ok(pongs >= 3, `only ${pongs} pongs in 600 ms with a 100 ms keep-alive`);
  await c.dispose();
  const event = await gone;
  assert.equal(event.code, 1000, `closed with ${event.code} ${event.reason}`);
});

test('a connection that cannot open is reported to the client', async () => {
  // A path with no WebSocket endpoint: the handshake fails and the operation's sink gets
  // the error; nothing hangs.
  const c = createClient({
    url: `ws://127.0.0.1:${server.port}/nowhere`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
  });
  await assert.rejects(once(c, { query: '{ __typename }' }));
  await c.dispose();
});

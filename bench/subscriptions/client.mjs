// The WebSocket side of `bash bench/run.sh --subscriptions` (bench/harness/subscriptions.py
// runs it once per point): opens `subscribers` graphql-transport-ws connections to a running
// fraiseql server, measuring the server's resident memory before, with every connection open
// and idle, and with every one subscribed; then sends `createOrder` mutations open-loop at
// `rate` per second for `duration` seconds over HTTP and times every pushed message.
//
// One clock for everything (this process's performance.now()): a message's latency is its
// arrival minus the moment the mutation's HTTP answer arrived (the commit came before that
// answer, so this is at most the commit-to-client time) and minus the moment the request was
// sent (at least the commit-to-client time). Both are reported.
//
// Usage: node client.mjs <settings.json>; the result is one JSON object on stdout.

import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

import WebSocket from 'ws';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { port, pid, subscribers, rate, duration, mutation, subscription, customers } = cfg;
const log = (m) => process.stderr.write(`  [client] ${m}\n`);
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

function rssKiB() {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
}

async function metric(name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

async function until(what, check, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(50);
  }
}

/** One subscriber: its socket and the arrival time of each order id it was sent. */
function connect() {
  return new Promise((ok, err) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, ['graphql-transport-ws'], { perMessageDeflate: false });
    const sub = { ws, arrivals: new Map(), duplicates: 0, errors: [] };
    ws.on('message', (data) => {
      const now = performance.now();
      const m = JSON.parse(data);
      if (m.type === 'connection_ack') ok(sub);
      else if (m.type === 'next') {
        const id = m.payload?.data?.orderCreated?.id;
        if (!id) sub.errors.push(JSON.stringify(m).slice(0, 300));
        else if (sub.arrivals.has(id)) sub.duplicates += 1;
        else sub.arrivals.set(id, now);
      } else if (m.type === 'ping') ws.send('{"type":"pong"}');
      else if (m.type === 'error') sub.errors.push(JSON.stringify(m).slice(0, 300));
    });
    ws.once('open', () => ws.send('{"type":"connection_init"}'));
    ws.once('error', err);
    ws.on('close', (code) => { sub.closed = code; });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
function post(body) {
  return new Promise((ok, err) => {
    const req = request({
      host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', err);
    req.end(body);
  });
}

function pct(sorted, q) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1));
  return Math.round(sorted[i] * 1000) / 1000;
}
function stats(values) {
  const v = Float64Array.from(values).sort();
  return { n: v.length, p50: pct(v, 50), p90: pct(v, 90), p99: pct(v, 99), max: pct(v, 100), min: pct(v, 0) };
}

/** Sends `count` mutations open-loop (each at its time); the committed ids with their times. */
async function mutate(count, perSecond) {
  const sent = new Map(); // id -> [sentAt, answeredAt]
  const failures = [];
  const lateness = [];
  const t0 = performance.now() + 50;
  const pending = [];
  for (let i = 0; i < count; i += 1) {
    const at = t0 + (i * 1000) / perSecond;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    lateness.push(performance.now() - at);
    const customer = customers[(i * 7919) % customers.length];
    const body = JSON.stringify({ query: mutation, variables: { customer, total: '42.50' } });
    const sentAt = performance.now();
    pending.push(post(body).then((r) => {
      const answeredAt = performance.now();
      const id = r.status === 200 ? JSON.parse(r.body)?.data?.createOrder?.id : null;
      if (id) sent.set(id, [sentAt, answeredAt]);
      else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    }, (e) => failures.push(String(e))));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - t0) / 1000;
  return { sent, failures, lateness, achieved: count / Math.max(seconds, 1e-9) };
}

async function main() {
  const base = rssKiB();
  const subs = [];
  for (let i = 0; i < subscribers; i += 100) {
    const batch = Math.min(100, subscribers - i);
    subs.push(...await Promise.all(Array.from({ length: batch }, connect)));
  }
  await until('connections counted', async () => (await metric('fraiseql_subscriptions_connections')) >= subscribers);
  await sleep(1000);
  const idle = rssKiB();
  subs.forEach((s, i) => s.ws.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: subscription } })));
  await until('subscriptions active', async () => (await metric('fraiseql_subscriptions_active')) >= subscribers);
  await sleep(1000);
  const subscribed = rssKiB();
  log(`${subscribers} subscribed; server RSS ${base} KiB -> ${idle} idle -> ${subscribed} subscribed`);

  // Warm-up: a second of mutations, every message delivered before the measured run.
  const warm = await mutate(Math.max(5, Math.round(rate)), rate);
  await until('warm-up delivered', async () => subs.every((s) => [...warm.sent.keys()].every((id) => s.arrivals.has(id))), 30_000);
  subs.forEach((s) => s.arrivals.clear());

  const total = Math.round(rate * duration);
  const run = await mutate(total, rate);
  const ids = [...run.sent.keys()];
  const delivered = () => subs.every((s) => ids.every((id) => s.arrivals.has(id)));
  try {
    await until('every message delivered', async () => delivered(), 30_000);
  } catch {
    // Counted as missing below.
  }
  await sleep(500);
  const afterRun = rssKiB();

  const fromAnswer = [];
  const fromSend = [];
  const spread = []; // per order: last subscriber's arrival minus the first's
  let missing = 0;
  for (const id of ids) {
    const [sentAt, answeredAt] = run.sent.get(id);
    let first = Infinity;
    let last = -Infinity;
    for (const s of subs) {
      const at = s.arrivals.get(id);
      if (at === undefined) { missing += 1; continue; }
      fromAnswer.push(at - answeredAt);
      fromSend.push(at - sentAt);
      first = Math.min(first, at);
      last = Math.max(last, at);
    }
    if (last >= first) spread.push(last - first);
  }
  const http = ids.map((id) => run.sent.get(id)[1] - run.sent.get(id)[0]);
  const closedEarly = subs.filter((s) => s.closed !== undefined).length;
  subs.forEach((s) => s.ws.close());
  agent.destroy();
  const out = {
    subscribers,
    rss_kib: { before: base, idle_connections: idle, subscribed, after_run: afterRun },
    per_idle_connection_kib: Math.round(((idle - base) / subscribers) * 100) / 100,
    per_subscription_kib: Math.round(((subscribed - idle) / subscribers) * 100) / 100,
    target_rate: rate,
    achieved_rate: Math.round(run.achieved * 10) / 10,
    send_lateness_ms_p99: stats(run.lateness).p99,
    committed: ids.length,
    failed_requests: run.failures.length,
    failures_sample: run.failures.slice(0, 5),
    expected_messages: ids.length * subscribers,
    received_messages: fromAnswer.length,
    missing,
    duplicates: subs.reduce((n, s) => n + s.duplicates, 0),
    errors_sample: subs.flatMap((s) => s.errors).slice(0, 5),
    closed_early: closedEarly,
    latency_from_answer_ms: stats(fromAnswer),
    latency_from_send_ms: stats(fromSend),
    fan_out_spread_ms: stats(spread),
    http_ms: stats(http),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});

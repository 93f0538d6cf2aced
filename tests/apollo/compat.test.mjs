// Apollo's subgraph compatibility suite (@apollo/federation-subgraph-compatibility-tests,
// its jest tests as published) against examples/apollo-products: the fraiseql `products`
// subgraph (started by the example's run.sh on PostgreSQL), the suite's own `users` and
// `inventory` subgraphs (its bundled Apollo servers), and a gateway composing the three
// with @apollo/composition and served by @apollo/gateway + @apollo/server on
// http://localhost:4000/ (the suite's tests call that address). The suite's runners need
// Docker or pm2 and rover; only its test runner (jest) is used here. Every test must pass.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';
import { composeServices } from '@apollo/composition';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const suite = dirname(
  require.resolve('@apollo/federation-subgraph-compatibility-tests/package.json'),
);
const { runJest, TESTS } = require(join(suite, 'dist/testRunner.js'));

// The addresses the suite's tests use (its utils/client.js); only products' is settable.
const ports = { router: 4000, products: 4001, users: 4002, inventory: 4003 };
const url = (port, path = '') => `http://localhost:${port}/${path}`;
const PRODUCTS = url(ports.products, 'graphql');

const children = [];
let gateway;
after(async () => {
  if (gateway) await gateway.stop();
  for (const c of children) c.kill('SIGTERM');
});

/** Starts a child process whose output goes to the test's stderr, prefixed. */
function start(name, command, args, env) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: 'pipe' });
  const log = (chunk) => process.stderr.write(`[${name}] ${chunk}`);
  child.stdout.on('data', log);
  child.stderr.on('data', log);
  children.push(child);
  return child;
}

async function ask(endpoint, query, variables = {}) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** Waits (at most 120 s: run.sh may build fraiseql) until `endpoint` answers a query. */
async function ready(name, endpoint, child) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      const body = await ask(endpoint, '{ __typename }');
      if (body?.data?.__typename) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not answer at ${endpoint}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("Apollo's subgraph compatibility suite passes in full against examples/apollo-products", async () => {
  const products = start('products', 'bash', [
    join(root, 'examples/apollo-products/run.sh'),
    '--port',
    String(ports.products),
  ]);
  const users = start('users', process.execPath, [join(suite, 'dist/subgraphs/users/index.js')], {
    USERS_PORT: String(ports.users),
  });
  const inventory = start(
    'inventory',
    process.execPath,
    [join(suite, 'dist/subgraphs/inventory/index.js')],
    { INVENTORY_PORT: String(ports.inventory) },
  );
  await ready('products', PRODUCTS, products);
  await ready('users', url(ports.users), users);
  await ready('inventory', url(ports.inventory), inventory);

  // Compose the three subgraphs' SDL, as the suite's own runner does with rover.
  const subgraphs = [
    { name: 'products', url: PRODUCTS },
    { name: 'users', url: url(ports.users) },
    { name: 'inventory', url: url(ports.inventory) },
  ];
  for (const s of subgraphs) {
    const body = await ask(s.url, '{ _service { sdl } }');
    assert.ok(body?.data?._service?.sdl, `${s.name}: ${JSON.stringify(body)}`);
    s.typeDefs = parse(body.data._service.sdl);
  }
  const composed = composeServices(subgraphs);
  assert.equal(
    composed.errors,
    undefined,
    `composition failed:\n${(composed.errors ?? []).map((e) => e.message).join('\n')}`,
  );
  const server = new ApolloServer({
    gateway: new ApolloGateway({ supergraphSdl: composed.supergraphSdl }),
  });
  await startStandaloneServer(server, { listen: { port: ports.router } });
  gateway = server;

  // The suite's jest tests, as its runner starts them.
  const results = await runJest(PRODUCTS);
  const lines = TESTS.map(
    (t) => `${results.assertionPassed(t.assertion) ? 'pass' : 'FAIL'}  ${t.column}`,
  );
  process.stderr.write(`Apollo subgraph compatibility (products = fraiseql):\n${lines.join('\n')}\n`);
  const failed = results.assertions.filter((a) => a.status !== 'passed');
  assert.deepEqual(
    failed.map((a) => `${a.fullName}: ${a.failureMessages.join('\n')}`),
    [],
    'every test of the suite passes',
  );
  assert.ok(results.assertions.length >= TESTS.length, 'the suite ran');
  for (const t of TESTS) assert.ok(results.assertionPassed(t.assertion), t.assertion);
});

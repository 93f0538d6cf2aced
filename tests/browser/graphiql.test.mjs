// End to end: GraphiQL, as served by `fraiseql run` at /graphiql, driven in a real headless
// Chromium against the quickstart (SQLite, seeded). Proves that our introspection builds a
// schema GraphiQL accepts (no fetch or validation error), that a query typed into the editor
// runs and shows seed data, and that the documentation explorer lists the Query fields. The
// same run builds the introspection result with `graphql`'s `buildClientSchema` +
// `validateSchema` + `printSchema`, as graphql-codegen-style tools do.
//
// The server embeds GraphiQL and React (crates/server/assets/graphiql); the page must work
// offline, so every request that does not go to the fraiseql server is aborted and fails the
// test, and the page must have loaded its scripts and stylesheet from the server. Nothing
// skips: a missing binary, Chromium or python3 is a failure.
//
// Environment: FRAISEQL_BIN (default target/debug/fraiseql; relative paths are taken from
// the repository root), CHROMIUM (default /usr/bin/chromium). A screenshot is written to
// target/browser/graphiql.png whether the test passes or fails.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { chromium } from 'playwright-core';
import {
  buildClientSchema,
  getIntrospectionQuery,
  printSchema,
  validateSchema,
} from 'graphql';

import { root, startQuickstart } from '../support/quickstart.mjs';

const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const screenshot = join(root, 'target/browser/graphiql.png');

// Every customer name in examples/quickstart/db/seed.sql.
const SEED_NAMES = [
  'Grace Hopper',
  'Ada Lovelace',
  'Linus Torvalds',
  'Barbara Liskov',
  'Edsger Dijkstra',
];
// The root fields of examples/quickstart/schema.graphql.
const QUERY_FIELDS = ['customers', 'customer', 'orders', 'order', 'ordersPage'];
const QUERY = '{ customers(limit: 2) { name } }';

// Flags for a closed network: without them Chromium keeps trying background connections
// (component updates, sync, QUIC probes) that are refused here.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function fail(message) {
  throw new Error(message);
}

/** Checks for Chromium before doing anything, so a missing one reads clearly. */
function checkPrerequisites() {
  if (!existsSync(chromiumPath)) {
    fail(`Chromium not found at ${chromiumPath}: install it with ` +
      '`apt-get install -y chromium` or point CHROMIUM at it');
  }
}

/** What a tool like graphql-codegen does with our introspection: build, validate, print. */
async function checkIntrospection(endpoint) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: getIntrospectionQuery() }),
  });
  assert.equal(res.status, 200, 'introspection query: HTTP status');
  const body = await res.json();
  assert.equal(body.errors, undefined, `introspection query returned errors: ${JSON.stringify(body.errors)}`);
  const schema = buildClientSchema(body.data);
  const invalid = validateSchema(schema).map((e) => e.message);
  assert.deepEqual(invalid, [], 'the introspected schema fails graphql-js validation');
  const sdl = printSchema(schema);
  assert.match(sdl, /^type Query \{$/m, 'printed schema has no `type Query`');
  for (const field of QUERY_FIELDS) {
    assert.match(sdl, new RegExp(`^  ${field}[(:]`, 'm'), `printed Query lacks \`${field}\``);
  }
}

/**
 * Lets through requests to the fraiseql server and aborts every other one, recording it:
 * the page must work with no network beyond the server (offline, behind a firewall).
 */
async function blockExternal(context, origin, blocked, served) {
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (url === origin || url.startsWith(`${origin}/`)) {
      served.push(url);
      return route.continue();
    }
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
}

/** Reads a CodeMirror 5 editor's text (GraphiQL 3's query and response editors). */
function editorText(page, selector) {
  return page.locator(`${selector} .CodeMirror`).first()
    .evaluate((el) => el.CodeMirror.getValue());
}

async function driveGraphiQL(page, origin) {
  const isIntrospection = (res) => res.url() === `${origin}/graphql`
    && res.request().method() === 'POST'
    && (res.request().postData() ?? '').includes('__schema');
  const introspected = page.waitForResponse(isIntrospection);
  await page.goto(`${origin}/graphiql`);

  // The editor renders, then the schema fetch returns a schema.
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
  const introspection = await introspected;
  assert.equal(introspection.status(), 200, 'GraphiQL introspection POST: HTTP status');
  const body = await introspection.json();
  assert.equal(body.errors, undefined, `GraphiQL introspection errors: ${JSON.stringify(body.errors)}`);
  assert.ok(body.data?.__schema, 'GraphiQL introspection response has no data.__schema');

  // The documentation explorer shows the root types only once GraphiQL built and validated
  // the schema; a fetch or build failure shows `.graphiql-doc-explorer-error` instead and
  // writes the error into the response pane.
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.getByText('Root Types').or(docs.locator('.graphiql-doc-explorer-error')).waitFor();
  const docError = docs.locator('.graphiql-doc-explorer-error');
  if (await docError.count()) {
    fail(`GraphiQL shows a schema error: ${await docError.innerText()}\n` +
      `response pane: ${await editorText(page, '.graphiql-response')}`);
  }
  assert.equal(await editorText(page, '.graphiql-response'), '',
    'the response pane shows a schema error before any query ran');

  // The Query type lists every root field.
  await docs.locator('a.graphiql-doc-explorer-type-name', { hasText: /^Query$/ }).click();
  await docs.locator('.graphiql-doc-explorer-title', { hasText: /^Query$/ }).waitFor();
  const fields = await docs.locator('a.graphiql-doc-explorer-field-name').allInnerTexts();
  for (const field of QUERY_FIELDS) {
    assert.ok(fields.includes(field), `docs explorer: Query lacks \`${field}\` (lists ${fields})`);
  }

  // A query set in the editor and run with the execute button shows seed data.
  await page.locator('.graphiql-query-editor .CodeMirror').first()
    .evaluate((el, query) => el.CodeMirror.setValue(query), QUERY);
  const executed = page.waitForResponse((res) => res.url() === `${origin}/graphql`
    && (res.request().postData() ?? '').includes('customers(limit: 2)'));
  await page.getByRole('button', { name: /^Execute query/ }).click();
  assert.equal((await executed).status(), 200, 'query POST: HTTP status');
  await page.waitForFunction(() => {
    const el = document.querySelector('.graphiql-response .CodeMirror');
    return el && el.CodeMirror.getValue().trim() !== '';
  });
  const shown = await editorText(page, '.graphiql-response');
  let result;
  try {
    result = JSON.parse(shown);
  } catch {
    fail(`the response pane does not hold JSON: ${shown}`);
  }
  assert.equal(result.errors, undefined, `the query returned errors: ${shown}`);
  const names = result.data?.customers?.map((c) => c.name);
  assert.equal(names?.length, 2, `expected 2 customers, the response pane shows: ${shown}`);
  for (const name of names) {
    assert.ok(SEED_NAMES.includes(name), `"${name}" is not a seed customer`);
  }
  // The names are on screen, not only in the editor's model.
  await page.locator('.graphiql-response').getByText(names[0]).waitFor();
}

async function main() {
  checkPrerequisites();
  const pageLog = [];
  const blocked = [];
  const served = [];
  let server;
  let browser;
  let page;
  try {
    server = await startQuickstart();
    const { origin } = server;

    await checkIntrospection(`${origin}/graphql`);

    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await blockExternal(context, origin, blocked, served);
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('console', (msg) => { if (msg.type() === 'error') pageLog.push(`console: ${msg.text()}`); });
    page.on('pageerror', (err) => pageLog.push(`page error: ${err.message}`));

    await driveGraphiQL(page, origin);
    assert.deepEqual(blocked, [], 'the page requested URLs outside the fraiseql server');
    for (const asset of ['graphiql-', 'react-', 'react-dom-']) {
      assert.ok(served.some((u) => u.startsWith(`${origin}/graphiql/assets/${asset}`) && u.endsWith('.js')),
        `the page did not load ${asset}*.js from the server (loaded: ${served.join(', ')})`);
    }
    assert.ok(served.some((u) => u.startsWith(`${origin}/graphiql/assets/`) && u.endsWith('.css')),
      'the page did not load its stylesheet from the server');
    await shoot(page);
    console.log(`ok: GraphiQL against fraiseql in Chromium, all external requests blocked (screenshot: ${screenshot})`);
  } catch (err) {
    if (page) await shoot(page).catch(() => {});
    console.error('FAILED: GraphiQL browser test');
    if (blocked.length) console.error(`blocked requests:\n  ${blocked.join('\n  ')}`);
    if (pageLog.length) console.error(`browser log:\n  ${pageLog.join('\n  ')}`);
    if (server?.log.length) console.error(`server log:\n${server.log.join('')}`);
    throw err;
  } finally {
    await browser?.close();
    await server?.stop();
  }
}

async function shoot(page) {
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

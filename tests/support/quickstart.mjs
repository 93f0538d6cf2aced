// A private copy of examples/quickstart served by `fraiseql run`, for the Node.js tests
// (tests/browser, tests/ws): a temporary folder with the quickstart's fraiseql.toml (plus
// any extra TOML the test appends) and schema.graphql, a SQLite file seeded from
// db/schema.sql + db/seed.sql the way run.sh does, a free port, and readiness on
// /health/ready. Node built-ins only, so every test package can import it.
//
// Environment: FRAISEQL_BIN (default target/debug/fraiseql; a relative path is taken from
// the repository root). Nothing skips: a missing binary or python3/sqlite3 is an error.

import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const quickstart = join(root, 'examples/quickstart');
export const bin = resolve(root, process.env.FRAISEQL_BIN ?? 'target/debug/fraiseql');

/** Creates the SQLite file `db` and runs the SQL files `sql` in it, in order. */
export function createSqlite(db, sql) {
  const python = `
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        con.executescript(f.read())
con.commit()
con.close()
`;
  let run = spawnSync('python3', ['-c', python, db, ...sql], { encoding: 'utf8' });
  if (run.error?.code === 'ENOENT') {
    const input = sql.map((f) => readFileSync(f, 'utf8')).join('\n');
    run = spawnSync('sqlite3', [db], { input, encoding: 'utf8' });
    if (run.error?.code === 'ENOENT') {
      throw new Error('creating a SQLite database needs python3 (or the sqlite3 CLI)');
    }
  }
  if (run.status !== 0) throw new Error(`creating ${db} failed:\n${run.stderr}`);
}

/** Creates the quickstart database the way examples/quickstart/run.sh does. */
function createDatabase(dir) {
  mkdirSync(join(dir, 'data'));
  const sql = ['schema.sql', 'seed.sql'].map((f) => join(quickstart, 'db', f));
  createSqlite(join(dir, 'data/quickstart.db'), sql);
}

/** A port nothing listens on right now (the server binds it a moment later). */
function freePort() {
  return new Promise((ok, err) => {
    const probe = createServer();
    probe.once('error', err);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/**
 * Starts the quickstart with `extraToml` appended to its fraiseql.toml. Resolves once
 * /health/ready answers 200 with `{ origin, port, pid, db, log, post(query, variables),
 * stop() }`: `db` is the SQLite file's path, `log` collects the server's output (for
 * failure messages).
 */
export async function startQuickstart(extraToml = '') {
  const dir = mkdtempSync(join(tmpdir(), 'fraiseql-quickstart-'));
  for (const f of ['fraiseql.toml', 'schema.graphql']) copyFileSync(join(quickstart, f), join(dir, f));
  if (extraToml) appendFileSync(join(dir, 'fraiseql.toml'), `\n${extraToml}\n`);
  createDatabase(dir);
  const server = await serveFolder(dir);
  return { ...server, db: join(dir, 'data/quickstart.db') };
}

/**
 * Runs `fraiseql run fraiseql.toml` in `dir` on a free port. Resolves once /health/ready
 * answers 200 with `{ origin, port, pid, log, post(query, variables), stop() }`; `stop`
 * also removes `dir`.
 */
export async function serveFolder(dir) {
  if (!existsSync(bin)) {
    throw new Error(`fraiseql binary not found at ${bin}: build it with \`cargo build -p fraiseql\` ` +
      'or point FRAISEQL_BIN at it');
  }
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(bin, ['run', 'fraiseql.toml', '--port', String(port), '--bind', '127.0.0.1'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => log.push(chunk.toString()));
  child.stderr.on('data', (chunk) => log.push(chunk.toString()));
  let exited = null;
  const gone = new Promise((ok) => child.on('exit', (code, signal) => {
    exited = signal ?? `exit code ${code}`;
    ok();
  }));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const post = async (query, variables) => {
    const res = await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: await res.json() };
  };

  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited) {
      await stop();
      throw new Error(`fraiseql run stopped (${exited}) before it was ready:\n${log.join('')}`);
    }
    try {
      const res = await fetch(`${origin}/health/ready`);
      if (res.status === 200) {
        return { origin, port, pid: child.pid, log, post, stop };
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  await stop();
  throw new Error(`fraiseql run did not answer 200 on /health/ready within 30 s:\n${log.join('')}`);
}

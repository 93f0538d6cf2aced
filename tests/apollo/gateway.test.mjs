// Apollo Gateway (@apollo/gateway, composing with IntrospectAndCompose) over two fraiseql
// subgraphs on different databases: `users` owns User; `orders` owns Order and adds
// `User.orders`, both read from its own SQLite file. One query through the gateway
// crosses them both ways: users -> orders (the gateway asks the orders subgraph for User
// entities) and orders -> users (it asks the users subgraph).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { Trace } from '@apollo/usage-reporting-protobuf';
import { createSqlite, serveFolder } from '../support/quickstart.mjs';

const subgraphs = {
  users: {
    sql: `
CREATE TABLE tb_user (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
INSERT INTO tb_user VALUES ('u1', 'Ada', 'ada@example.com'), ('u2', 'Grace', 'grace@example.com'),
  ('u3', 'Linus', 'linus@example.com');
CREATE VIEW v_user AS SELECT id, json_object('id', id, 'name', name, 'email', email) AS data
  FROM tb_user;`,
    sdl: `
type User @source(view: "v_user") @key(fields: "id") {
  id: ID!
  name: String!
  email: String!
}
type Query {
  users: [User!]!
  user(id: ID!): User
}`,
  },
  orders: {
    sql: `
CREATE TABLE tb_order (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, total INT NOT NULL);
INSERT INTO tb_order VALUES ('o1', 'u1', 10), ('o2', 'u1', 25), ('o3', 'u2', 7);
-- The users this service knows of (kept in step with the users service by events).
CREATE TABLE tb_user_ref (id TEXT PRIMARY KEY);
INSERT INTO tb_user_ref VALUES ('u1'), ('u2'), ('u3');
CREATE VIEW v_order AS SELECT id, user_id,
  json_object('id', id, 'user_id', user_id, 'total', total) AS data FROM tb_order;
CREATE VIEW v_user AS SELECT id, json_object('id', id) AS data FROM tb_user_ref;`,
    sdl: `
type Order @source(view: "v_order") @key(fields: "id") {
  id: ID!
  userId: ID!
  total: Int!
  user: User @relation(localKey: "user_id")
}
type User @source(view: "v_user") @key(fields: "id") {
  id: ID!
  orders: [Order!]! @relation(localKey: "id", remoteKey: "user_id")
}
type Query {
  orders: [Order!]!
}`,
  },
};

const running = [];
after(async () => {
  for (const r of running) await r.stop();
});

/** A fraiseql subgraph over its own SQLite file. */
async function subgraph(name, { sql, sdl }) {
  const dir = mkdtempSync(join(tmpdir(), `fraiseql-apollo-${name}-`));
  mkdirSync(join(dir, 'db'));
  writeFileSync(join(dir, 'db/schema.sql'), sql);
  createSqlite(join(dir, `${name}.db`), [join(dir, 'db/schema.sql')]);
  writeFileSync(join(dir, 'schema.graphql'), sdl);
  writeFileSync(join(dir, 'fraiseql.toml'), `[project]
name = "${name}"
[database]
url = "sqlite://./${name}.db"
[fraiseql]
schema_file = "schema.graphql"
[federation]
enabled = true
service_name = "${name}"
`);
  const server = { ...await serveFolder(dir), name };
  running.push(server);
  return server;
}

test('the gateway composes two fraiseql subgraphs and answers across them', async () => {
  const users = await subgraph('users', subgraphs.users);
  const orders = await subgraph('orders', subgraphs.orders);
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [
        { name: 'users', url: `${users.origin}/graphql` },
        { name: 'orders', url: `${orders.origin}/graphql` },
      ],
    }),
  });
  const server = new ApolloServer({ gateway });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  running.push({ stop: () => server.stop() });

  const ask = async (query) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    return res.json();
  };
  const body = await ask(`{
    users { name orders { id total user { email } } }
    orders { id user { name } }
  }`);
  assert.deepEqual(body, {
    data: {
      users: [
        { name: 'Ada', orders: [
          { id: 'o1', total: 10, user: { email: 'ada@example.com' } },
          { id: 'o2', total: 25, user: { email: 'ada@example.com' } },
        ] },
        { name: 'Grace', orders: [{ id: 'o3', total: 7, user: { email: 'grace@example.com' } }] },
        { name: 'Linus', orders: [] },
      ],
      orders: [
        { id: 'o1', user: { name: 'Ada' } },
        { id: 'o2', user: { name: 'Ada' } },
        { id: 'o3', user: { name: 'Grace' } },
      ],
    },
  }, `${JSON.stringify(body)}\n${users.log.join('')}\n${orders.log.join('')}`);
});

test("a subgraph's ftv1 trace is Apollo's Trace message", async () => {
  const users = running.find((r) => r.name === 'users') ?? await subgraph('users', subgraphs.users);
  const res = await fetch(`${users.origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'apollo-federation-include-trace': 'ftv1' },
    body: JSON.stringify({
      query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { name } } }',
      variables: { r: [{ __typename: 'User', id: 'u2' }, { __typename: 'User', id: 'nobody' }] },
    }),
  });
  const body = await res.json();
  assert.deepEqual(body.data, { _entities: [{ name: 'Grace' }, null] });
  const trace = Trace.decode(Buffer.from(body.extensions.ftv1, 'base64'));
  assert.ok(Number(trace.durationNs) > 0);
  assert.ok(Number(trace.startTime.seconds) > 1_700_000_000);
  const entities = trace.root.child[0];
  assert.equal(entities.responseName, '_entities');
  assert.equal(entities.parentType, 'Query');
  assert.equal(entities.type, '[_Entity]!');
  assert.equal(entities.child[0].index, 0);
  const name = entities.child[0].child[0];
  assert.deepEqual([name.responseName, name.parentType, name.type], ['name', 'User', 'String!']);
});

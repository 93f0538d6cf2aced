// Raw WebSocket clients for the protocol tests: `open` (the `ws` package: send any text or
// binary frame, read the next message as JSON, wait for the close code) and `stalled` (a
// hand-made handshake over a plain TCP socket that then never reads, as a stuck or hostile
// client would).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

import WebSocket from 'ws';

/** How long a test waits for one message or a close. */
export const WAIT_MS = 10_000;

/**
 * Opens `ws://127.0.0.1:<port><path>` offering `protocol` (none: no header). Resolves once
 * open with `{ ws, send(obj|text), next(), closed, ready() }`; rejects when the handshake
 * fails (its HTTP status in the message).
 */
export function open(port, path = '/graphql', protocol = 'graphql-transport-ws', headers = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocol ? [protocol] : [], { headers });
  const inbox = [];
  const waiting = [];
  ws.on('message', (data, isBinary) => {
    const message = isBinary ? { binary: data } : JSON.parse(data.toString());
    const w = waiting.shift();
    if (w) w(message);
    else inbox.push(message);
  });
  const closed = new Promise((ok) => ws.on('close', (code, reason) => ok({ code, reason: reason.toString() })));
  const client = {
    ws,
    closed,
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    /** The next message, or a failure after WAIT_MS. */
    next() {
      if (inbox.length) return Promise.resolve(inbox.shift());
      return new Promise((ok, err) => {
        const timer = setTimeout(() => err(new Error(`no message within ${WAIT_MS} ms`)), WAIT_MS);
        waiting.push((m) => { clearTimeout(timer); ok(m); });
      });
    },
    /** The close code and reason, or a failure after WAIT_MS. */
    async close() {
      let timer;
      const late = new Promise((_, err) => {
        timer = setTimeout(() => err(new Error(`not closed within ${WAIT_MS} ms`)), WAIT_MS);
      });
      try {
        return await Promise.race([closed, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    /** `connection_init`, then expects `connection_ack` (and the legacy `ka` after it). */
    async ready(payload) {
      client.send(payload ? { type: 'connection_init', payload } : { type: 'connection_init' });
      assert.deepEqual(await client.next(), { type: 'connection_ack' });
      if (protocol === 'graphql-ws') assert.deepEqual(await client.next(), { type: 'ka' });
      return client;
    },
  };
  return new Promise((ok, err) => {
    ws.once('open', () => ok(client));
    ws.once('unexpected-response', (_req, res) => err(new Error(`handshake refused: HTTP ${res.statusCode}`)));
    ws.once('error', err);
  });
}

/** One masked client frame (RFC 6455 section 5.2): FIN, `opcode`, `payload`. */
function frame(opcode, payload) {
  const body = Buffer.from(payload);
  const mask = randomBytes(4);
  let head;
  if (body.length < 126) {
    head = Buffer.from([0x80 | opcode, 0x80 | body.length]);
  } else if (body.length < 65536) {
    head = Buffer.alloc(4);
    head.writeUInt8(0x80 | opcode, 0);
    head.writeUInt8(0x80 | 126, 1);
    head.writeUInt16BE(body.length, 2);
  } else {
    head = Buffer.alloc(10);
    head.writeUInt8(0x80 | opcode, 0);
    head.writeUInt8(0x80 | 127, 1);
    head.writeBigUInt64BE(BigInt(body.length), 2);
  }
  const masked = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i += 1) masked[i] = body[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, masked]);
}

/**
 * A graphql-transport-ws client over a bare TCP socket that reads the handshake answer and
 * then stops reading for good: `{ sendText(text), resume(), ended }`. `resume()` starts
 * reading again (dropping what arrives); `ended` resolves when the server closed the TCP
 * connection.
 */
export function stalled(port) {
  return new Promise((ok, err) => {
    const socket = connect(port, '127.0.0.1');
    const key = randomBytes(16).toString('base64');
    let head = '';
    const ended = new Promise((done) => socket.once('close', done));
    socket.once('error', () => {});
    socket.once('connect', () => {
      socket.write(`GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        'Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n');
    });
    const onData = (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (!head.startsWith('HTTP/1.1 101')) {
        err(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
        return;
      }
      ok({
        ended,
        sendText(text) {
          return new Promise((done) => socket.write(frame(0x1, text), () => done()));
        },
        resume() {
          socket.on('data', () => {});
          socket.resume();
        },
        destroy() { socket.destroy(); },
      });
    };
    socket.on('data', onData);
  });
}

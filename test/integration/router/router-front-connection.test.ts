// Connections on the fast path and the hand-off to node:http: requests the fast path does not
// answer itself (bodies, Expect, HTTP/1.0, heads in pieces, malformed ones) reach node:http
// whole and in order, on new connections and in the middle of kept-alive ones; keep-alive,
// Connection: close, idle timeouts and clients that go away.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { StaticRouteSource } from '../../../src/router/static-route-source.ts';
import { sleep, startGearBackend, type GearBackend } from './gear-backends.ts';

const HOST = 'front-demo.localhost';
let router: RunningRouter;
let gear: GearBackend;
/** Set when the gear's /slow request is closed by the router. */
let slowClosed: () => void = () => undefined;

before(async () => {
  gear = await startGearBackend('front-gear', (request, response) => {
    if (request.url === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      request.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      request.on('end', () => response.end(`${bytes} ${hash.digest('hex')}`));
      return true;
    }
    if (request.url === '/slow') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('first');
      response.on('close', () => slowClosed());
      return true;
    }
    return false;
  });
  const source = new StaticRouteSource({ items: [{ host: HOST, app: 'front', domain: 'demo', desiredState: 'started', endpoints: [gear.endpoint] }] });
  router = await startRouter({ source, log: createRouterLogger('silent'), keepAliveTimeoutMs: 300 });
});
after(async () => {
  await router.close();
  await gear.stop();
});

/** A raw client connection that collects what the router sends. */
function open(): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(router.port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => undefined);
  return { socket, received: () => text, closed };
}

async function until(condition: () => boolean, what: string, ms = 3_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    assert.ok(Date.now() - started < ms, what);
    await sleep(5);
  }
}

/** The bodies of the responses in `text`, in order (responses with a Content-Length or chunked). */
function bodies(text: string): string[] {
  const found: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) break;
    const head = rest.slice(0, headEnd);
    rest = rest.slice(headEnd + 4);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length !== null) {
      found.push(rest.slice(0, Number(length[1])));
      rest = rest.slice(Number(length[1]));
    } else if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      let body = '';
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
      found.push(body);
    } else {
      found.push('');
    }
  }
  return found;
}

const get = (path = '/') => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
const post = (body: string) => `POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const digest = (body: string | Buffer) => `${Buffer.byteLength(body)} ${createHash('sha256').update(body).digest('hex')}`;

test('pipelined requests, a body among them, are answered in order on one connection', async () => {
  const client = open();
  client.socket.write(get() + get() + post('payload') + get() + post('') + get());
  await until(() => bodies(client.received()).length === 6, 'six responses');
  assert.deepEqual(bodies(client.received()), ['front-gear', 'front-gear', digest('payload'), 'front-gear', digest(''), 'front-gear']);
  client.socket.destroy();
});

test('a kept-alive connection goes on after a request with a body (handed to node:http)', async () => {
  const client = open();
  client.socket.write(get());
  await until(() => bodies(client.received()).length === 1, 'first response');
  client.socket.write(post('x'.repeat(10_000)));
  await until(() => bodies(client.received()).length === 2, 'the POST answered');
  client.socket.write(get());
  await until(() => bodies(client.received()).length === 3, 'a GET after it');
  assert.deepEqual(bodies(client.received()), ['front-gear', digest('x'.repeat(10_000)), 'front-gear']);
  client.socket.destroy();
});

test('a large upload sent at once as the first request arrives whole and in order', async () => {
  const body = Buffer.alloc(3 * 1024 * 1024);
  for (let at = 0; at < body.length; at++) body[at] = (at * 7 + (at >> 12)) & 0xff;
  const client = open();
  client.socket.write(Buffer.concat([Buffer.from(`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]));
  await until(() => bodies(client.received()).length === 1, 'the upload answered', 10_000);
  assert.deepEqual(bodies(client.received()), [digest(body)]);
  client.socket.destroy();
});

test('a head that arrives in pieces is answered (by node:http)', async () => {
  const client = open();
  const request = get();
  client.socket.write(request.slice(0, 10));
  await sleep(30);
  client.socket.write(request.slice(10, 25));
  await sleep(30);
  client.socket.write(request.slice(25));
  await until(() => bodies(client.received()).length === 1, 'answered');
  assert.deepEqual(bodies(client.received()), ['front-gear']);
  client.socket.destroy();
});

test('HTTP/1.0, Expect: 100-continue and a malformed request are answered as node:http does', async () => {
  const old = open();
  old.socket.write(`GET / HTTP/1.0\r\nHost: ${HOST}\r\n\r\n`);
  await old.closed;
  assert.match(old.received(), /^HTTP\/1\.1 200 OK\r\n[^]*\r\nConnection: close\r\n[^]*front-gear$/);

  const expecting = open();
  expecting.socket.write(`PUT /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n`);
  await until(() => expecting.received().startsWith('HTTP/1.1 100 Continue\r\n\r\n'), '100 Continue');
  expecting.socket.write('data');
  await until(() => expecting.received().includes(digest('data')), 'answered');
  expecting.socket.destroy();

  const malformed = open();
  malformed.socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nBroken header\r\n\r\n`);
  await malformed.closed;
  assert.equal(malformed.received(), 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
});

test('Connection: close closes after the response; an idle connection closes after the keep-alive timeout', async () => {
  const closing = open();
  closing.socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
  await closing.closed;
  assert.deepEqual(bodies(closing.received()), ['front-gear']);

  // keepAliveTimeoutMs is 300 here: node:http's rule is that plus 1 s.
  const idle = open();
  idle.socket.write(get());
  await until(() => bodies(idle.received()).length === 1, 'answered');
  const answeredAt = Date.now();
  await idle.closed;
  const after = Date.now() - answeredAt;
  assert.ok(after >= 1_200 && after < 3_000, `closed ${after} ms after the response`);
  assert.match(idle.received(), /\r\nKeep-Alive: timeout=0\r\n/);
});

test('a connection silent at first is still answered when it speaks', async () => {
  const late = open();
  await sleep(1_300);
  late.socket.write(get());
  await until(() => bodies(late.received()).length === 1, 'answered');
  late.socket.destroy();
});

test('a client that goes away mid-response makes the router close the gear request', async () => {
  const gone = new Promise<void>((resolve) => (slowClosed = resolve));
  const client = open();
  client.socket.write(get('/slow'));
  await until(() => client.received().includes('first'), 'the first bytes');
  client.socket.destroy();
  await gone;
});

// The router's gear client against a gear that answers with exact bytes (a raw TCP server): the
// framings a gear may use, gears that close or misbehave, and what reaches the client each time.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { request } from 'undici';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { StaticRouteSource } from '../../../src/router/static-route-source.ts';
import { sleep } from './gear-backends.ts';

const HOST = 'raw-demo.localhost';

/** Per request path, what the raw gear writes back (after reading the request head, and body when asked). */
const SCRIPTS: Record<string, (socket: Socket, request: string) => void> = {
  '/chunked': (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n'),
  '/until-close': (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the gear closes'),
  '/close-after': (socket) => socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\ndone'),
  '/no-content': (socket) => socket.write('HTTP/1.1 204 No Content\r\nX-Gear: raw\r\n\r\n'),
  '/interim': (socket) => socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'),
  '/hop-by-hop': (socket) => socket.write('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: secret\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok'),
  '/malformed': (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok'),
  '/bad-header-value': (socket) => socket.end('HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok'),
  '/cut-body': (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'),
  '/silent': () => undefined,
  '/echo': (socket, head) => {
    const body = Buffer.from(head, 'latin1');
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`);
    if (!head.startsWith('HEAD ')) socket.write(body);
  },
};

let gear: Server;
let gearPort = 0;
/** Connections the raw gear accepted, to tell reuse from new connections. */
let accepted = 0;
const openSockets = new Set<Socket>();
let router: RunningRouter;

/** Reads requests off a connection; each complete request (head, and a chunked or sized body) is answered by its script. */
function serve(socket: Socket): void {
  accepted++;
  openSockets.add(socket);
  socket.on('close', () => openSockets.delete(socket));
  let buffered = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (;;) {
      const headEnd = buffered.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const head = buffered.slice(0, headEnd + 4);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      let total = headEnd + 4;
      if (length !== null) {
        total += Number(length[1]);
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const end = buffered.indexOf('\r\n0\r\n\r\n', headEnd);
        if (end === -1 && !buffered.slice(headEnd + 4).startsWith('0\r\n\r\n')) return;
        total = end === -1 ? headEnd + 4 + 5 : end + 7;
      }
      if (buffered.length < total) return;
      const whole = buffered.slice(0, total);
      buffered = buffered.slice(total);
      const path = whole.split(' ')[1] ?? '/';
      (SCRIPTS[path] ?? SCRIPTS['/echo']!)(socket, whole);
    }
  });
  socket.on('error', () => undefined);
}

before(async () => {
  gear = createServer(serve);
  await new Promise<void>((resolve) => gear.listen(0, '127.0.0.1', resolve));
  gearPort = (gear.address() as AddressInfo).port;
  const source = new StaticRouteSource({ items: [{ host: HOST, app: 'raw', domain: 'demo', desiredState: 'started', endpoints: [`127.0.0.1:${gearPort}`] }] });
  router = await startRouter({ source, log: createRouterLogger('silent'), idleTimeoutMs: 1_000 });
});
after(async () => {
  await router.close();
  await new Promise((resolve) => gear.close(resolve));
});

async function get(path: string, init: { method?: string; body?: string } = {}) {
  const response = await request(`${router.url}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: { host: HOST }, ...(init.body === undefined ? {} : { body: init.body }) });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

describe('framings a gear may use', () => {
  test('a chunked response is relayed de-chunked, trailers dropped', async () => {
    const response = await get('/chunked');
    assert.equal(response.status, 200);
    assert.equal(response.body, 'hello, world');
    assert.equal(response.headers['x-trailer'], undefined);
  });

  test('a response that runs until the gear closes arrives whole', async () => {
    const response = await get('/until-close');
    assert.equal(response.status, 200);
    assert.equal(response.body, 'until the gear closes');
  });

  test('a gear that closes after each response: every request is answered', async () => {
    for (let attempt = 0; attempt < 3; attempt++) assert.deepEqual(await get('/close-after').then((response) => [response.status, response.body]), [200, 'done']);
  });

  test('204 and HEAD have no body; the connection is reused after a 204, not after a HEAD (as undici)', async () => {
    await get('/echo');
    const before = accepted;
    const noContent = await get('/no-content');
    assert.equal(noContent.status, 204);
    assert.equal(noContent.headers['x-gear'], 'raw');
    assert.equal((await get('/echo')).status, 200);
    assert.equal(accepted, before, 'no new gear connection after the 204');
    const head = await get('/echo', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await get('/echo')).status, 200);
    assert.equal(accepted, before + 1, 'a new gear connection after the HEAD');
  });

  test('an interim 103 is not relayed; the final response is', async () => {
    assert.deepEqual(await get('/interim').then((response) => [response.status, response.body]), [200, 'final']);
  });

  test('hop-by-hop response headers, and those Connection names, do not reach the client', async () => {
    const response = await get('/hop-by-hop');
    assert.equal(response.headers['x-hop'], undefined);
    assert.equal(response.headers['x-kept'], 'yes');
    assert.notEqual(response.headers['keep-alive'], 'timeout=5');
  });
});

describe('what the gear receives', () => {
  test('a chunked upload is sent chunked; a sized one with its length; a body-less POST with Content-Length: 0', async () => {
    const chunked = await new Promise<string>((resolve, reject) => {
      const outgoing = httpRequest(`${router.url}/echo`, { method: 'POST', headers: { host: HOST }, agent: false }, (response) => {
        let text = '';
        response.setEncoding('latin1').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
      });
      outgoing.on('error', reject);
      outgoing.write('abc');
      outgoing.end('defg');
    });
    assert.match(chunked, /\r\ntransfer-encoding: chunked\r\n/i);
    assert.match(chunked, /\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n$/);

    const sized = (await get('/echo', { method: 'POST', body: 'payload' })).body;
    assert.match(sized, /\r\ncontent-length: 7\r\n/i);
    assert.ok(sized.endsWith('\r\n\r\npayload'));

    const empty = (await get('/echo', { method: 'POST' })).body;
    assert.match(empty, /\r\ncontent-length: 0\r\n/i);
  });

  test('the request line keeps the path and query as sent', async () => {
    assert.match((await get('/echo?a=1&b=%20x')).body, /^GET \/echo\?a=1&b=%20x HTTP\/1\.1\r\n/);
  });
});

describe('gears that misbehave', () => {
  test('a malformed response answers 502 and the next request gets a new connection', async () => {
    const response = await get('/malformed');
    assert.equal(response.status, 502);
    assert.equal(response.body, 'app raw-demo: its gear failed to answer (invalid response: both Transfer-Encoding and Content-Length)\n');
    assert.equal((await get('/echo')).status, 200);
  });

  test('a header node:http refuses to send answers 502', async () => {
    const response = await get('/bad-header-value');
    assert.equal(response.status, 502);
    assert.match(response.body, /^app raw-demo: its gear failed to answer \(invalid response: /);
  });

  test('a body cut short cuts the client connection', async () => {
    await assert.rejects(get('/cut-body'));
  });

  test('a gear silent past the idle timeout answers 504', async () => {
    const started = Date.now();
    const response = await get('/silent');
    assert.equal(response.status, 504);
    assert.equal(response.body, 'app raw-demo: its gear did not answer within 1 s\n');
    assert.ok(Date.now() - started < 3_000);
  });

  test('keep-alive connections the gear dropped while idle are not used again', async () => {
    await Promise.all([get('/echo'), get('/echo'), get('/echo')]);
    // The gear drops every connection it holds (as a restarted gear would)…
    for (const socket of openSockets) socket.destroy();
    await sleep(50);
    // …and the next requests go out on new ones.
    const before = accepted;
    assert.equal((await get('/echo')).status, 200);
    assert.equal(accepted, before + 1);
  });
});

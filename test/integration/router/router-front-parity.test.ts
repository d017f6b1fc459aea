// The fast path (front-connection.ts) against node:http, byte for byte: what the request parser
// accepts means the same to node:http, and a router with the fast path answers exactly as one
// without it (`fastPath: false`), for the framings, statuses and errors a client can meet.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { parseFrontRequest } from '../../../src/router/front-request-parser.ts';
import { GearResponseParser } from '../../../src/router/gear-response-parser.ts';
import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { StaticRouteSource } from '../../../src/router/static-route-source.ts';

const HOST = 'parity-demo.localhost';

/** What the raw gear answers, by request path. */
const SCRIPTS: Record<string, string> = {
  '/plain': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\nhello',
  '/no-date': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/chunked': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n',
  '/cookies': 'HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-MiXeD-Case: v\r\nETag: "x"\r\nContent-Length: 0\r\n\r\n',
  '/no-content': 'HTTP/1.1 204 No Content\r\nX-Gear: raw\r\n\r\n',
  '/not-modified': 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
  '/empty-reason': 'HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx',
  '/custom-reason': 'HTTP/1.1 299 Quite Fine\r\nContent-Length: 1\r\n\r\nx',
  '/interim': 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal',
  '/bad-header': 'HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok',
  '/bad-name': 'HTTP/1.1 200 OK\r\nX Bad: 1\r\nContent-Length: 2\r\n\r\nok',
  '/bad-reason': 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok',
  '/big': `HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n${'b'.repeat(5000)}`,
};
/** Answered, then the gear closes (a body that runs until close). */
const CLOSING: Record<string, string> = {
  '/until-close': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the gear closes',
};

let gear: Server;
let fast: RunningRouter;
let slow: RunningRouter;

function serveGear(socket: Socket): void {
  let buffered = '';
  socket.setEncoding('latin1');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      const [method, target] = head.split(' ');
      const path = (target ?? '/').split('?')[0]!;
      if (CLOSING[path] !== undefined) {
        socket.end(CLOSING[path]);
        return;
      }
      let response = SCRIPTS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n';
      if (method === 'HEAD') response = response.slice(0, response.lastIndexOf('\r\n\r\n') + 4);
      socket.write(response, 'latin1');
    }
  });
}

before(async () => {
  gear = createServer(serveGear);
  await new Promise<void>((resolve) => gear.listen(0, '127.0.0.1', resolve));
  const endpoint = `127.0.0.1:${(gear.address() as AddressInfo).port}`;
  const items = [
    { host: HOST, app: 'parity', domain: 'demo', desiredState: 'started' as const, endpoints: [endpoint] },
    { host: 'sleepy-demo.localhost', app: 'sleepy', domain: 'demo', desiredState: 'stopped' as const, endpoints: [endpoint] },
  ];
  fast = await startRouter({ source: new StaticRouteSource({ items }), log: createRouterLogger('silent') });
  slow = await startRouter({ source: new StaticRouteSource({ items }), log: createRouterLogger('silent'), fastPath: false });
});
after(async () => {
  await Promise.all([fast.close(), slow.close()]);
  await new Promise((resolve) => gear.close(resolve));
});

/** Sends `request` on a new connection and returns the bytes of the one response (read until it is complete or the connection ends). */
function roundTrip(port: number, request: string, head = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const parser = new GearResponseParser(
      {
        onResponseHead: () => undefined,
        onResponseBody: () => undefined,
        onResponseComplete: done,
        onResponseMalformed: (reason) => reject(new Error(`router answered a malformed response: ${reason}`)),
      },
      1 << 20,
    );
    parser.expect(head);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      parser.execute(chunk);
    });
    socket.on('end', () => {
      parser.finish();
      done();
    });
    socket.on('error', reject);
    socket.write(request, 'latin1');
  });
}

/** The Date of a response (it moves) and the router's listening port (it differs) made comparable. */
const comparable = (response: string, router: RunningRouter) => response.replace(/\r\nDate: [^\r]*/g, '\r\nDate: (now)').replaceAll(String(router.port), '(port)');

async function bothAnswer(request: (router: RunningRouter) => string, head = false): Promise<string> {
  const [fastAnswer, slowAnswer] = await Promise.all([roundTrip(fast.port, request(fast), head), roundTrip(slow.port, request(slow), head)]);
  assert.equal(comparable(fastAnswer, fast), comparable(slowAnswer, slow));
  return fastAnswer;
}

describe('the fast path answers as node:http', () => {
  const get = (path: string, extra = '') => () => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`;
  const cases: Record<string, { request: (router: RunningRouter) => string; head?: boolean; expect: RegExp }> = {
    'a response with its length': { request: get('/plain'), expect: /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: 5\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n\r\nhello$/ },
    'a Date added when the gear sent none': { request: get('/no-date'), expect: /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/ },
    'a chunked response, relayed chunked': { request: get('/chunked'), expect: /\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n$/ },
    'a response until close, relayed chunked': { request: get('/until-close'), expect: /\r\nTransfer-Encoding: chunked\r\n\r\n15\r\nuntil the gear closes\r\n0\r\n\r\n$/ },
    'repeated and mixed-case headers kept': { request: get('/cookies'), expect: /^HTTP\/1\.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-MiXeD-Case: v\r\n/ },
    '204: no body, no framing': { request: get('/no-content'), expect: /^HTTP\/1\.1 204 No Content\r\nX-Gear: raw\r\nDate: [^\r]*\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n\r\n$/ },
    '304: no body, no framing': { request: get('/not-modified'), expect: /^HTTP\/1\.1 304 Not Modified\r\n/ },
    'an empty reason phrase': { request: get('/empty-reason'), expect: /^HTTP\/1\.1 200 \r\n/ },
    'a reason phrase of its own': { request: get('/custom-reason'), expect: /^HTTP\/1\.1 299 Quite Fine\r\n/ },
    'interim responses dropped': { request: get('/interim'), expect: /^HTTP\/1\.1 200 OK\r\n[^]*final$/ },
    'HEAD: the length, no body': { request: () => `HEAD /plain HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, head: true, expect: /\r\nContent-Length: 5\r\n[^]*\r\n\r\n$/ },
    'Connection: close asked': { request: get('/plain', 'Connection: close\r\n'), expect: /\r\nConnection: close\r\n\r\nhello$/ },
    'a body over 1 KiB': { request: get('/big'), expect: /\r\n\r\nb{5000}$/ },
    'a query string': { request: get('/plain?a=1&b=%2F&c=~'), expect: /^HTTP\/1\.1 200 OK\r\n/ },
    'an invalid header value: 502': { request: get('/bad-header'), expect: /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*Invalid character in header content \["X-Bad"\]\)\n$/ },
    'an invalid header name: 502': { request: get('/bad-name'), expect: /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*Header name must be a valid HTTP token \["X Bad"\]\)\n$/ },
    'an invalid reason phrase: 502': { request: get('/bad-reason'), expect: /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*Invalid character in statusMessage\)\n$/ },
    'an unknown host: 404': { request: () => 'GET / HTTP/1.1\r\nHost: nope-demo.localhost\r\n\r\n', expect: /^HTTP\/1\.1 404 Not Found\r\ncontent-type: text\/plain; charset=utf-8\r\ncontent-length: 45\r\ncache-control: no-store\r\nDate: [^\r]*\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n\r\nno app is routed at host nope-demo.localhost\n$/ },
    'a stopped app: 503': { request: () => 'GET / HTTP/1.1\r\nHost: sleepy-demo.localhost\r\n\r\n', expect: /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*app sleepy-demo is stopped\n$/ },
    'the router health': { request: () => 'GET /_geartide/health HTTP/1.1\r\nHost: anything\r\n\r\n', expect: /^HTTP\/1\.1 200 OK\r\ncontent-type: application\/json\r\n[^]*\r\n\r\n\{"status":"ok","routes":2,"version":"1","ejectedEndpoints":0\}$/ },
    'HEAD of a router answer': { request: () => 'HEAD / HTTP/1.1\r\nHost: nope-demo.localhost\r\n\r\n', head: true, expect: /^HTTP\/1\.1 404 Not Found\r\n[^]*\r\ncontent-length: 45\r\n[^]*\r\n\r\n$/ },
  };
  for (const [name, { request, head, expect }] of Object.entries(cases)) {
    test(name, async () => assert.match(await bothAnswer(request, head), expect));
  }
});

describe('what the request parser accepts means the same to node:http', () => {
  test('method, target and raw headers as node:http parses them', async () => {
    const heads = [
      `GET / HTTP/1.1\r\nHost: ${HOST}`,
      `GET /a/b/c?x=1&y=%20z&w=a+b;c HTTP/1.1\r\nhost: ${HOST}\r\nAccept: */*`,
      `POST /submit HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\nContent-Type: text/plain`,
      `DELETE /x HTTP/1.1\r\nHost:${HOST}\r\nX-Tabs:\t\ta\tb\t \r\nX-Trailing: v   \r\nX-Empty:\r\nX-Empty-Spaced:   `,
      `OPTIONS /!$&'()*+,;=:@-._~ HTTP/1.1\r\nHOST: ${HOST}\r\nCookie: a=1\r\nCookie: b=2\r\nconnection: keep-alive, X-Hop\r\nX-Hop: 1`,
      `PATCH /p HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close`,
      `HEAD /h HTTP/1.1\r\nHost: ${HOST}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "quoted" <angle> {brace} [bracket] \\back\\ |pipe| ^caret^ \`tick\``,
    ];
    const seen: { method: string; url: string; rawHeaders: string[] }[] = [];
    const server = createHttpServer((request: IncomingMessage, response) => {
      seen.push({ method: request.method!, url: request.url!, rawHeaders: request.rawHeaders });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      for (const head of heads) {
        const parsed = parseFrontRequest(head);
        assert.ok(parsed !== undefined, `accepted: ${JSON.stringify(head)}`);
        await roundTrip((server.address() as AddressInfo).port, `${head}\r\n\r\n`, head.startsWith('HEAD'));
        const node = seen.pop()!;
        assert.deepEqual({ method: parsed.method, url: parsed.target, rawHeaders: parsed.rawHeaders }, node, JSON.stringify(head));
      }
    } finally {
      server.close();
    }
  });
});

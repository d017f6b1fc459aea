// A gear that takes a request with a body and hangs up without answering: the client gets a
// 502 at once (the request is not retried: its body was streamed, not kept).
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, test } from 'node:test';

import { request } from 'undici';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { StaticRouteSource } from '../../../src/router/static-route-source.ts';

let gear: Server;
let router: RunningRouter;

before(async () => {
  // Reads the whole request, head and body, then closes the connection without a response.
  gear = createServer((socket) => {
    let seen = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      seen += chunk;
      if (seen.includes('\r\n\r\npayload')) socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => gear.listen(0, '127.0.0.1', resolve));
  const endpoint = `127.0.0.1:${(gear.address() as AddressInfo).port}`;
  const source = new StaticRouteSource({ items: [{ host: 'hangup-demo.localhost', app: 'hangup', domain: 'demo', desiredState: 'started', endpoints: [endpoint] }] });
  router = await startRouter({ source, log: createRouterLogger('silent') });
});
after(async () => {
  await router.close();
  await new Promise((resolve) => gear.close(resolve));
});

test('a gear that hangs up after reading a POST body: 502 at once, not a client left waiting', async () => {
  const started = Date.now();
  const response = await request(`${router.url}/`, { method: 'POST', headers: { host: 'hangup-demo.localhost' }, body: 'payload', headersTimeout: 5_000 });
  assert.equal(response.statusCode, 502);
  assert.match(await response.body.text(), /^app hangup-demo: its gear failed to answer \(/);
  assert.ok(Date.now() - started < 2_000);
});

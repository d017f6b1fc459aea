// A real router (StaticRouteSource: the table is set directly) in front of real node:http gears.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';

import { request } from 'undici';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { StaticRouteSource } from '../../../src/router/static-route-source.ts';
import { get, startGearBackend, type GearBackend } from './gear-backends.ts';

let router: RunningRouter;
let source: StaticRouteSource;
let a: GearBackend;
let b: GearBackend;
let c: GearBackend;

const route = (app: string, endpoints: string[], desiredState: 'started' | 'stopped' = 'started') => ({ host: `${app}-demo.localhost`, app, domain: 'demo', desiredState, endpoints });

before(async () => {
  [a, b, c] = await Promise.all([startGearBackend('gear-a'), startGearBackend('gear-b'), startGearBackend('gear-c')]);
  source = new StaticRouteSource({
    items: [route('hello', [a.endpoint]), route('spread', [a.endpoint, b.endpoint, c.endpoint]), route('sleepy', [a.endpoint], 'stopped'), route('empty', [])],
  });
  router = await startRouter({ source, log: createRouterLogger('silent') });
});
after(async () => {
  await router.close();
  await Promise.all([a.stop(), b.stop(), c.stop()]);
});

describe('routing by Host', () => {
  test('a known host reaches its gear, whatever the case and port of the Host header', async () => {
    for (const host of ['hello-demo.localhost', 'HELLO-Demo.LocalHost', `hello-demo.localhost:${router.port}`, 'hello-demo.localhost.']) {
      const response = await get(router.url, host);
      assert.equal(response.status, 200, host);
      assert.equal(response.body, 'gear-a', host);
    }
  });

  test('an unknown host answers 404 naming the host', async () => {
    const response = await get(router.url, 'nope-demo.localhost:8080');
    assert.equal(response.status, 404);
    assert.equal(response.body, 'no app is routed at host nope-demo.localhost\n');
  });

  test('a stopped app answers 503 saying it is stopped', async () => {
    const response = await get(router.url, 'sleepy-demo.localhost');
    assert.equal(response.status, 503);
    assert.equal(response.body, 'app sleepy-demo is stopped\n');
  });

  test('an app without a started gear answers 503 saying so', async () => {
    const response = await get(router.url, 'empty-demo.localhost');
    assert.equal(response.status, 503);
    assert.equal(response.body, 'app empty-demo has no started gear\n');
  });

  test('requests are spread round-robin over the endpoints', async () => {
    const seen: string[] = [];
    for (let index = 0; index < 9; index++) seen.push((await get(router.url, 'spread-demo.localhost')).body);
    const counts = Object.fromEntries(['gear-a', 'gear-b', 'gear-c'].map((name) => [name, seen.filter((body) => body === name).length]));
    assert.deepEqual(counts, { 'gear-a': 3, 'gear-b': 3, 'gear-c': 3 });
    // Strict rotation, not just an even count.
    assert.notEqual(seen[0], seen[1]);
    assert.notEqual(seen[1], seen[2]);
    assert.equal(seen[0], seen[3]);
  });

  test('the router health answers whatever the Host', async () => {
    const response = await get(router.url, 'anything.example', '/_geartide/health');
    assert.equal(response.status, 200);
    assert.deepEqual(JSON.parse(response.body), { status: 'ok', routes: 4, version: '1', ejectedEndpoints: 0, pid: process.pid });
  });
});

describe('headers at the hop', () => {
  test('X-Forwarded-For is appended; Host kept; X-Forwarded-Host/-Proto/-Port set by the router', async () => {
    const response = await get(router.url, `hello-demo.localhost:${router.port}`, '/headers', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-custom': 'kept' });
    const echoed = JSON.parse(response.body) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(echoed.headers.host, `hello-demo.localhost:${router.port}`);
    assert.equal(echoed.headers['x-forwarded-host'], `hello-demo.localhost:${router.port}`);
    assert.equal(echoed.headers['x-forwarded-proto'], 'http');
    assert.equal(echoed.headers['x-forwarded-port'], String(router.port));
    assert.equal(echoed.headers['x-custom'], 'kept');
  });

  test('X-Forwarded-Port falls back to the listening port when Host has none', async () => {
    const echoed = JSON.parse((await get(router.url, 'hello-demo.localhost', '/headers')).body) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-forwarded-port'], String(router.port));
    assert.equal(echoed.headers['x-forwarded-for'], '127.0.0.1');
  });

  test('hop-by-hop headers, and those Connection names, do not reach the gear', async () => {
    // node:http, because undici drops a Connection header that lists other headers.
    const body = await new Promise<string>((resolve, reject) => {
      const outgoing = httpRequest(`${router.url}/headers`, {
        headers: { host: 'hello-demo.localhost', connection: 'keep-alive, x-hop', 'x-hop': 'secret-hop', te: 'trailers', 'proxy-authorization': 'Basic eDp5', 'x-end-to-end': 'yes' },
        agent: false,
      });
      outgoing.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
      });
      outgoing.on('error', reject).end();
    });
    const echoed = JSON.parse(body) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-hop'], undefined);
    assert.equal(echoed.headers.te, undefined);
    assert.equal(echoed.headers['proxy-authorization'], undefined);
    assert.equal(echoed.headers['x-end-to-end'], 'yes');
  });

  test('a request with a body that has neither length nor chunking arrives with Content-Length 0', async () => {
    const response = await request(`${router.url}/headers`, { method: 'POST', headers: { host: 'hello-demo.localhost' } });
    const echoed = JSON.parse(await response.body.text()) as { headers: Record<string, string> };
    assert.equal(echoed.headers['content-length'], '0');
    assert.equal(echoed.headers['transfer-encoding'], undefined);
  });
});

describe('following the table source', () => {
  test('a table change applies to the next request', async () => {
    source.set({ items: [route('hello', [b.endpoint]), route('late', [c.endpoint])] });
    assert.equal((await get(router.url, 'hello-demo.localhost')).body, 'gear-b');
    assert.equal((await get(router.url, 'late-demo.localhost')).body, 'gear-c');
    assert.equal((await get(router.url, 'spread-demo.localhost')).status, 404);
  });
});

// The router's BrokerRouteSource over real HTTP against the route-table TEST DOUBLE
// (broker-routes-double.ts, not the broker), with real gears behind the router.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import type { RouteEntry } from '../../../src/router/route-table.ts';
import { ROUTER_TOKEN, startBrokerRoutesDouble, type BrokerRoutesDouble } from './broker-routes-double.ts';
import { get, sleep, startGearBackend, type GearBackend } from './gear-backends.ts';

let broker: BrokerRoutesDouble;
let router: RunningRouter;
let a: GearBackend;
let b: GearBackend;

const hello = (endpoints: string[]): RouteEntry => ({ host: 'hello-demo.localhost', app: 'hello', domain: 'demo', desiredState: 'started', endpoints });
const health = async () => JSON.parse((await get(router.url, 'x', '/_geartide/health')).body) as { status: string; routes: number; version: string | null; lastError?: string };

async function until(what: string, limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    assert.ok(performance.now() - started < limitMs, `${what} within ${limitMs} ms`);
    await sleep(5);
  }
  return performance.now() - started;
}

before(async () => {
  [a, b] = await Promise.all([startGearBackend('gear-a'), startGearBackend('gear-b')]);
  broker = await startBrokerRoutesDouble([hello([a.endpoint])]);
  router = await startRouter({ broker: { url: broker.url, token: ROUTER_TOKEN, waitSeconds: 2, backoff: { initialMs: 20, maxMs: 100 } }, log: createRouterLogger('silent') });
  await until('first table', 2_000, async () => (await health()).version !== null);
});
after(async () => {
  await router.close();
  await broker.stop().catch(() => undefined);
  await Promise.all([a.stop(), b.stop()]);
});

test('the first request has no since; the next ones resume from the version, with the router token', async () => {
  assert.equal((await get(router.url, 'hello-demo.localhost')).body, 'gear-a');
  await until('a resumed long-poll', 1_000, async () => broker.requests.length >= 2);
  assert.deepEqual(broker.requests[0], { since: null, wait: '2', authorized: true });
  assert.deepEqual(broker.requests[1], { since: '1', wait: '2', authorized: true });
  assert.deepEqual(await health(), { status: 'ok', routes: 1, version: '1', ejectedEndpoints: 0, pid: process.pid });
});

test('the router follows a change of the broker table within one second', async () => {
  for (const [items, host, want] of [
    [[hello([b.endpoint])], 'hello-demo.localhost', 'gear-b'],
    [[hello([b.endpoint]), { ...hello([a.endpoint]), host: 'new-demo.localhost', app: 'new' }], 'new-demo.localhost', 'gear-a'],
  ] as const) {
    broker.setItems([...items]);
    const elapsed = await until('routed after the change', 1_000, async () => (await get(router.url, host)).body === want);
    assert.ok(elapsed < 1_000, `followed in ${elapsed.toFixed(0)} ms`);
  }
});

test('an unchanged table is a 304 the router waits through without losing routes', async () => {
  const before = broker.requests.length;
  await sleep(2_300); // one full `wait` of 2 s answered 304
  assert.ok(broker.requests.length > before, 'polled again after the 304');
  assert.equal((await get(router.url, 'hello-demo.localhost')).body, 'gear-b');
});

test('while the broker is down the last table keeps serving; changes flow again when it returns', async () => {
  await broker.stop();
  await until('health says stale', 2_000, async () => (await health()).status === 'stale');
  assert.equal((await get(router.url, 'hello-demo.localhost')).body, 'gear-b', 'still routed from the last table');
  await broker.restart();
  broker.setItems([hello([a.endpoint])]);
  await until('routed to the new table after the broker returned', 2_000, async () => (await get(router.url, 'hello-demo.localhost')).body === 'gear-a');
  assert.equal((await health()).status, 'ok');
});

test('a broker error is reported in health, without the token, and the last table stays', async () => {
  broker.failWith = 500;
  // The poll waiting now ends with its 304 after `wait` (2 s); the next one meets the 500.
  await until('health says stale', 4_000, async () => (await health()).status === 'stale');
  const report = await health();
  assert.match(report.lastError ?? '', /answered 500: the double was told to fail/);
  assert.ok(!JSON.stringify(report).includes(ROUTER_TOKEN));
  assert.equal((await get(router.url, 'hello-demo.localhost')).body, 'gear-a');
  broker.failWith = undefined;
  await until('ok again', 2_000, async () => (await health()).status === 'ok');
});

test('a wrong token is refused by the broker and reported, and the router keeps trying', async () => {
  const wrong = await startRouter({ broker: { url: broker.url, token: 'not-the-router-token', waitSeconds: 2, backoff: { initialMs: 20, maxMs: 100 } }, log: createRouterLogger('silent') });
  try {
    const report = async () => JSON.parse((await get(wrong.url, 'x', '/_geartide/health')).body) as { status: string; lastError?: string };
    await until('health reports the 401', 2_000, async () => (await report()).lastError !== undefined);
    const seen = await report();
    assert.equal(seen.status, 'starting');
    assert.match(seen.lastError!, /answered 401: a valid bearer token is required/);
    const response = await get(wrong.url, 'hello-demo.localhost');
    assert.equal(response.status, 503);
    assert.equal(response.body, 'the router has no route table yet (the broker has not answered)\n');
  } finally {
    await wrong.close();
  }
});

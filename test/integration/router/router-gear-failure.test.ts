// Passive health with real gears: one is killed under load, taken out, and put back when it returns.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { request } from 'undici';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { StaticRouteSource } from '../../../src/router/static-route-source.ts';
import { get, sleep, startGearBackend, type GearBackend } from './gear-backends.ts';

let router: RunningRouter;
let a: GearBackend;
let b: GearBackend;
let lonely: GearBackend;

before(async () => {
  [a, b, lonely] = await Promise.all([startGearBackend('gear-a'), startGearBackend('gear-b'), startGearBackend('gear-lonely')]);
  const source = new StaticRouteSource({
    items: [
      { host: 'duo-demo.localhost', app: 'duo', domain: 'demo', desiredState: 'started', endpoints: [a.endpoint, b.endpoint] },
      { host: 'solo-demo.localhost', app: 'solo', domain: 'demo', desiredState: 'started', endpoints: [lonely.endpoint] },
    ],
  });
  // Quick probes so "back in" is measured in tens of milliseconds, not seconds.
  router = await startRouter({ source, log: createRouterLogger('silent'), probe: { initialDelayMs: 50, maxDelayMs: 200 } });
});
after(async () => {
  await router.close();
  await Promise.all([a.stop(), b.stop().catch(() => undefined), lonely.stop().catch(() => undefined)]);
});

const health = async () => JSON.parse((await get(router.url, 'x', '/_geartide/health')).body) as { ejectedEndpoints: number };

test('a killed gear is taken out without failing a GET, and back in once it answers again', async () => {
  // Steady load from 4 clients while gear-b dies and comes back.
  let running = true;
  const failures: string[] = [];
  const served: string[] = [];
  const client = async () => {
    while (running) {
      const response = await get(router.url, 'duo-demo.localhost').catch((error: Error) => ({ status: 0, body: error.message }));
      if (response.status === 200) served.push(response.body);
      else failures.push(`${response.status} ${response.body}`);
    }
  };
  const clients = Array.from({ length: 4 }, client);
  // IMPORTANT: the clients are stopped in finally, because a failed assertion would otherwise
  // leave them looping and the test process would never end.
  try {
  const loadStarted = Date.now();
  while (!(served.includes('gear-a') && served.includes('gear-b'))) {
    assert.ok(Date.now() - loadStarted < 3_000, 'both gears serve before the kill');
    await sleep(10);
  }

  await b.stop();
  const killedAt = served.length;
  await sleep(300);
  assert.equal((await health()).ejectedEndpoints, 1, 'gear-b is taken out');
  const whileDown = served.slice(killedAt + 8); // a few answered by b just before the kill may land late
  assert.ok(whileDown.length > 20, `requests flowed while gear-b was down (${whileDown.length})`);
  assert.ok(whileDown.every((name) => name === 'gear-a'), 'only gear-a serves while gear-b is down');

  await b.restart();
  const restartedAt = Date.now();
  while (!served.slice(-20).includes('gear-b')) {
    assert.ok(Date.now() - restartedAt < 3_000, 'gear-b back in rotation within 3 s');
    await sleep(20);
  }
  } finally {
    running = false;
    await Promise.all(clients);
  }
  assert.deepEqual(failures, [], 'no GET failed');
  assert.equal((await health()).ejectedEndpoints, 0);
});

test('with no other gear alive, a failed request answers 502 saying so, then 503 while the gear is out', async () => {
  await lonely.stop();
  const first = await get(router.url, 'solo-demo.localhost');
  assert.equal(first.status, 502);
  assert.equal(first.body, 'app solo-demo: its gear failed to answer (connection refused)\n');
  const next = await get(router.url, 'solo-demo.localhost');
  assert.equal(next.status, 503);
  assert.match(next.body, /^app solo-demo has no live gear/);
  await lonely.restart();
  const restartedAt = Date.now();
  while ((await get(router.url, 'solo-demo.localhost')).status !== 200) {
    assert.ok(Date.now() - restartedAt < 3_000, 'back within 3 s');
    await sleep(20);
  }
});

test('a POST is not retried on another gear: it answers 502 when its gear is gone', async () => {
  await b.stop();
  // Alternate until the POST lands on the dead gear (round robin, so within two tries).
  let status = 200;
  for (let attempt = 0; attempt < 4 && status === 200; attempt++) {
    const response = await request(`${router.url}/`, { method: 'POST', headers: { host: 'duo-demo.localhost', 'content-type': 'text/plain' }, body: 'payload' });
    await response.body.text();
    status = response.statusCode;
  }
  assert.equal(status, 502);
  await b.restart();
});

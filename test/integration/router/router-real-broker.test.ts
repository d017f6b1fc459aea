// The router following the real broker's route table over HTTP (long-poll), with real gears
// (HTTP servers) behind it: what a gear reports, an app stop and an app delete reach the router
// within one second.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { startBrokerHarness, type BrokerHarness, type HarnessNode, type HarnessUser } from '../../support/broker-harness.ts';
import { get, startGearBackend, type GearBackend } from './gear-backends.ts';

const ROUTER_TOKEN = 'router-token-for-the-real-broker-test';

let h: BrokerHarness;
let router: RunningRouter;
let node: HarnessNode | undefined;
let bob: HarnessUser;
let gears: GearBackend[];

async function within(what: string, limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    assert.ok(performance.now() - started < limitMs, `${what} within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

before(async () => {
  h = await startBrokerHarness('sqlite', { listen: true, env: { ROUTER_TOKEN } });
  await h.createDistrict('east');
  [node] = await h.registerNodes(1, { district: 'east' });
  bob = await h.createUser('bob');
  await h.createDomain(bob, 'demo');
  gears = await Promise.all([startGearBackend('gear-a'), startGearBackend('gear-b')]);
  router = await startRouter({ broker: { url: h.broker.url, token: ROUTER_TOKEN }, log: createRouterLogger('silent') });
});

after(async () => {
  await router.close();
  await Promise.all(gears.map((gear) => gear.stop()));
  await h.close();
});

test('follows what the broker says of an app within one second: started gears, stop, delete', async () => {
  const app = await h.ok('POST', '/domains/demo/apps', { token: bob.token, body: { name: 'hello', cartridge: 'nodejs', gears: 2 }, status: 201 });
  // No gear has reported itself started yet: the app is known, with nowhere to send requests.
  await within('503 before any gear is started', 1_000, async () => (await get(router.url, 'hello-demo.localhost')).status === 503);

  const report = (gear: { id: string }, backend: GearBackend) =>
    h.ok('PUT', `/nodes/${node!.name}/gears/${gear.id}`, { token: node!.credential, body: { observedState: 'started', endpoint: backend.endpoint }, status: 204 });
  await report(app.gears[0], gears[0]!);
  const first = await within('routed to the first started gear', 1_000, async () => (await get(router.url, 'hello-demo.localhost')).body === 'gear-a');
  assert.ok(first < 1_000);

  await report(app.gears[1], gears[1]!);
  const seen = new Set<string>();
  await within('round-robin over both gears', 1_000, async () => {
    seen.add((await get(router.url, 'hello-demo.localhost')).body);
    return seen.size === 2;
  });

  await h.ok('POST', '/domains/demo/apps/hello/stop', { token: bob.token });
  await within('503 once the app is stopped', 1_000, async () => {
    const answer = await get(router.url, 'hello-demo.localhost');
    return answer.status === 503 && /stopped/.test(answer.body);
  });

  await h.call('DELETE', '/domains/demo/apps/hello', { token: bob.token });
  await within('404 once the app is deleted', 1_000, async () => (await get(router.url, 'hello-demo.localhost')).status === 404);
});

test('the broker knows the router by host, listening port and pid', async () => {
  const { hostname } = await import('node:os');
  const routers = (await h.ok('GET', '/routers', { token: h.admin.token })).items as { name: string; countedByMoves: boolean }[];
  assert.deepEqual(routers.map((each) => [each.name, each.countedByMoves]), [[`${hostname()}:${router.port}/${process.pid}`, true]]);
});

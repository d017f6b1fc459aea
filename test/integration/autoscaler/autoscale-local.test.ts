// The autoscaler end to end with the local provider and real processes (issue 5): load rises →
// node hosts added and gears placed (an app create waits for the node its gears need); the
// local "quota" (LOCAL_MAX_NODES) reached → the pool is exhausted in status, events and metrics
// and app creation is refused naming the pool and the reason; the quota raised in broker.conf →
// recovery without a restart; load falls → after the unneeded time the node with the fewest
// active gears is drained and exactly that node is deleted, with no failed request through the
// router.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { request } from 'undici';

import { isSameProcess } from '../../../src/node/process-identity.ts';
import { eventually, FAST_AUTOSCALE_ENV, startPlatform, type Platform, type PlatformUser } from '../../support/platform.ts';

describe('autoscaler with the local provider (real agents, gears, router)', { timeout: 300_000 }, () => {
  let p: Platform;
  let bob: PlatformUser;
  const setQuota = (max: number) => writeFileSync(join(p.home, 'broker.conf'), `LOCAL_MAX_NODES="${max}"\n`);
  const status = () => p.api('GET', '/autoscaler');
  const pool = async () => (await status()).pools[0];
  const metrics = async () => (await (await request(`${p.brokerUrl}/metrics`)).body.text());
  const nodesOf = async (domain: string, app: string) => (await p.app(domain, app)).gears.map((gear) => gear.node).sort();

  before(async () => {
    p = await startPlatform({
      autoscale: true,
      brokerEnv: {
        ...FAST_AUTOSCALE_ENV,
        PROVISION_TIMEOUT: '60',
        APP_CREATE_WAIT: '60',
      },
    });
    bob = await p.createUser('bob');
    await p.createDomain('auto', bob.token);
  });

  after(async () => {
    await p?.close();
  });

  it('brings the pool to its minimum by itself', async () => {
    await eventually('local-node-1 registered', async () => (await p.broker.context.store.getNodeByName('local-node-1'))?.state === 'active');
    const events = await p.events('pool.scale-up');
    assert.equal(events.length, 1);
    assert.match(events[0]!.message, /fewer than its minimum 1: add 1 node host\(s\) to district default/);
  });

  it('load rises: usage over the threshold adds a node, and an app that does not fit waits for it', async () => {
    setQuota(2);
    await p.createApp('auto', 'a1', { gears: 4, token: bob.token }); // 4/4: 100 %
    const started = Date.now();
    // No room anywhere: the request is held while the autoscaler brings local-node-2.
    await p.createApp('auto', 'a2', { gears: 2, token: bob.token });
    assert.deepEqual(await nodesOf('auto', 'a2'), ['local-node-2', 'local-node-2']);
    assert.ok(Date.now() - started > 100, 'the create waited for the new node');
    const scaledUp = await p.events('pool.scaled-up');
    assert.match(scaledUp.at(-1)!.message, /pool small grew by 1 node host\(s\) \(local-node-2\) in district default/);
    const node = await p.api('GET', '/nodes/local-node-2');
    assert.ok(node.scaleEventId?.startsWith('scale-'), 'the node reported the scale event it was started for');
    await p.waitForGearsStarted('auto', 'a1');
    await p.waitForGearsStarted('auto', 'a2');
  });

  it('LOCAL_MAX_NODES reached: exhausted in status, events and metrics, and a clear error on app create', async () => {
    // 6/8 active: a3's 3 gears cannot fit, and the "cloud" has no room for a third node.
    const refused = await p.api('POST', '/domains/auto/apps', { body: { name: 'a3', cartridge: 'nodejs', gears: 3 }, token: bob.token, status: 409 });
    assert.equal(refused.error.code, 'cloud_exhausted');
    assert.match(refused.error.message, /pool small cannot grow: the cloud is exhausted: LOCAL_MAX_NODES=2 node hosts are running/);
    await p.api('GET', '/domains/auto/apps/a3', { token: bob.token, status: 404 }); // nothing half-created

    const shown = await pool();
    assert.match(shown.exhausted.reason, /LOCAL_MAX_NODES=2/);
    const exhausted = await p.events('pool.exhausted');
    assert.ok(exhausted.length >= 1, 'an event says the pool is exhausted');
    assert.match(exhausted[0]!.message, /LOCAL_MAX_NODES=2/);
    assert.match(await metrics(), /geartide_pool_exhausted\{pool="small"\} 1/);
  });

  it('the quota raised in broker.conf: the pool recovers without a restart', async () => {
    setQuota(3);
    await eventually('the pool to recover', async () => (await pool()).exhausted === null, 20_000);
    // a3 now fits once local-node-3 is there (the create waits for it).
    await p.createApp('auto', 'a3', { gears: 3, token: bob.token });
    await p.waitForGearsStarted('auto', 'a3');
    assert.match((await p.events('pool.recovered'))[0]!.message, /pool small can grow again/);
    assert.match(await metrics(), /geartide_pool_exhausted\{pool="small"\} 0/);
    assert.deepEqual((await p.nodeNames()).sort(), ['local-node-1', 'local-node-2', 'local-node-3']);
  });

  it('load falls: the node with the fewest active gears is drained and exactly it is deleted, with 0 failed requests', async () => {
    // The pool packs: a1 on node-1 (4), a2 on node-2 (2), a3 spread first — node-2 (the fullest
    // with room) and node-3 — then its third gear on the fuller of those, node-2. Scale a1 to 2
    // and delete a2: node-1 2, node-2 2, node-3 1 → 5/12; without node-3 5/8 = 62.5 % ≤ 80 %.
    await p.api('POST', '/domains/auto/apps/a1/scale', { body: { gears: 2 }, token: bob.token });
    await p.api('DELETE', '/domains/auto/apps/a2', { token: bob.token, status: 204 });
    const perNode = new Map<string, number>();
    for (const app of ['a1', 'a3']) for (const node of await nodesOf('auto', app)) perNode.set(node, (perNode.get(node) ?? 0) + 1);
    const fewest = [...perNode.entries()].sort((a, b) => a[1] - b[1])[0]![0];
    assert.equal(fewest, 'local-node-3', `gears per node: ${JSON.stringify([...perNode])}`);

    const hosts = [p.appHost('a1', 'auto'), p.appHost('a3', 'auto')];
    for (const host of hosts) {
      let last = '';
      await eventually(`the router to serve ${host}`, async () => {
        const answer = await p.viaRouter(host);
        last = `${answer.status} ${answer.text.slice(0, 200)}; gears ${JSON.stringify((await p.app('auto', host.split('-')[0]!)).gears)}`;
        return answer.status === 200;
      }, 30_000).catch((error: Error) => assert.fail(`${error.message}; last: ${last}`));
    }
    const load = p.startLoad({ hosts, clients: 4 });
    const recorded = JSON.parse(readFileSync(join(p.home, 'local-provider.json'), 'utf8')) as { nodes: { name: string; pid: number; pidStartTime: string }[] };
    const agent = recorded.nodes.find((node) => node.name === 'local-node-3')!;
    assert.ok(isSameProcess(agent.pid, agent.pidStartTime), 'its agent runs before');
    await eventually('node local-node-3 removed', async () => (await p.api('GET', '/nodes/local-node-3')).state === 'gone', 90_000, 250);
    const report = await load.stop();
    assert.equal(report.failures, 0, `failed requests: ${JSON.stringify(report.failureSamples)}`);
    assert.ok(report.requests > 50, `the load ran (${report.requests} requests)`);

    const down = await p.events('pool.scale-down');
    assert.equal(down.length, 1, `one scale-down: ${JSON.stringify(down.map((each) => each.message))}`);
    assert.equal(down[0]!.data.node, 'local-node-3');
    assert.match(down[0]!.message, /cordon node local-node-3 \(1 active gear\(s\), 1 in all\)/);
    assert.deepEqual((await p.nodeNames()).sort(), ['local-node-1', 'local-node-2'], 'exactly that host is gone');
    assert.equal(isSameProcess(agent.pid, agent.pidStartTime), false, 'its agent process is gone');
    assert.deepEqual(p.gearDirsOn('local-node-3'), [], 'no gear directory left on the removed node');
    const gears = [...(await p.app('auto', 'a1')).gears, ...(await p.app('auto', 'a3')).gears];
    assert.ok(gears.every((gear) => gear.node !== 'local-node-3'));
    assert.equal((await p.events('gear.moved')).length, 1, 'its one gear moved');
    for (const host of hosts) assert.equal((await p.viaRouter(host)).status, 200);
    assert.match(await metrics(), /geartide_scale_downs_completed_total\{pool="small"\} 1/);

    // 5/8 now; without another node 5/4: nothing more goes.
    const plan = await p.api('GET', '/autoscaler/plan');
    assert.equal(plan.items[0].kind, 'noop', plan.items[0].reason);
  });
});

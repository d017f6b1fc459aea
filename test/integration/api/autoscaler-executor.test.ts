// The autoscaler's executor and controller on both stores, with the broker's clock in the test's
// hands and nodes registered as agents would register (no agent runs, so moves never finish by
// themselves): a scale-down removes exactly the node it chose; a drain that never ends passes its
// deadline, the scale-down fails, the node takes gears again and the pool backs off; a paused
// pool starts nothing; a node whose gears cannot leave its district is not chosen.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';
import { startBrokerHarness, type BrokerHarness } from '../../support/broker-harness.ts';

const ENV = {
  AUTOSCALE_PROVIDER: 'local',
  AUTOSCALE_POOLS: 'small min=1 max=5',
  SCALE_DOWN_UNNEEDED_TIME: '0',
  SCALE_DOWN_DELAY_AFTER_ADD: '0',
  SCALE_DOWN_COOLDOWN: '0',
  SCALE_BACKOFF_INITIAL: '60',
  DRAIN_DEADLINE: '10',
} as const;

async function withHarness(dialect: 'sqlite' | 'postgres', work: (h: BrokerHarness) => Promise<void>, env: Record<string, string> = {}): Promise<void> {
  const h = await startBrokerHarness(dialect, { env: { ...ENV, ...env } });
  try {
    await work(h);
  } finally {
    await h.close();
  }
}

async function appOn(h: BrokerHarness, name: string, gears: number): Promise<void> {
  const user = await h.createUser(`u${name}`);
  await h.createDomain(user, `d${name}`);
  await h.ok('POST', `/domains/d${name}/apps`, { token: user.token, body: { name, cartridge: 'nodejs', gears }, status: 201 });
}

for (const dialect of STORE_DIALECTS) {
  describe(`autoscaler executor on ${dialect}`, { skip: storeSkipReason(dialect) }, () => {
    it('scale-down: the idle node is drained and exactly it is removed; the busy one stays', () =>
      withHarness(dialect, async (h) => {
        await h.createDistrict('east');
        const [busy, idle] = await h.registerNodes(2, { district: 'east', withEndpoint: true });
        await appOn(h, 'web', 1); // lands on node1 (least loaded, then name)
        const autoscaler = h.broker.autoscaler!;
        const [pass] = await autoscaler.passOnce();
        assert.equal(pass!.plan.kind === 'scale-down' && pass!.plan.step, 'cordon', pass!.plan.reason);
        assert.match(pass!.plan.reason, new RegExp(`cordon node ${idle!.name} \\(0 active gear\\(s\\), 0 in all\\)`));
        assert.equal((await h.store.getNodeByName(idle!.name))!.state, 'deactivated', 'cordoned: out of placement');
        const [drain] = await autoscaler.passOnce(); // SCALE_DOWN_UNNEEDED_TIME=0: drain it now
        assert.equal(drain!.plan.kind === 'scale-down' && drain!.plan.step, 'drain', drain!.plan.reason);
        await h.broker.mover.passOnce(); // the drain finds nothing to move: done
        await autoscaler.passOnce(); // the scale-down sees it: delete, remove
        const operations = (await h.store.listOperations({ kind: 'scale-down' }));
        assert.deepEqual(operations.map((each) => [each.phase, each.status]), [['done', 'succeeded']]);
        assert.equal((await h.store.getNodeByName(idle!.name))!.state, 'gone');
        assert.equal((await h.store.getNodeByName(idle!.name))!.districtId, null);
        assert.equal((await h.store.getNodeByName(busy!.name))!.state, 'active');
        const kinds = (await h.store.listEvents({ limit: 100, kind: 'pool' })).map((event) => event.kind);
        assert.deepEqual(kinds, ['pool.scale-down', 'pool.scale-down-drain', 'pool.scaled-down']);
        assert.ok((await h.store.getPoolMemory('small')).lastScaleDownAt !== null);
        // At min now (1 node): nothing more goes.
        const [after] = await autoscaler.passOnce();
        assert.deepEqual([after!.plan.kind, after!.plan.kind === 'noop' ? after!.plan.code : ''], ['noop', 'at-min']);
      }));

    it('a drain that never ends: past DRAIN_DEADLINE the scale-down fails, the node takes gears again, the pool backs off', () =>
      withHarness(dialect, async (h) => {
        await h.createDistrict('east');
        await h.registerNodes(2, { district: 'east', withEndpoint: true });
        await appOn(h, 'web', 2); // one gear on each node
        const autoscaler = h.broker.autoscaler!;
        const [pass] = await autoscaler.passOnce(); // cordon
        assert.equal(pass!.plan.kind, 'scale-down', pass!.plan.reason);
        const chosen = pass!.plan.kind === 'scale-down' ? pass!.plan.nodeName : '';
        await autoscaler.passOnce(); // drain (SCALE_DOWN_UNNEEDED_TIME=0)
        await h.broker.mover.passOnce(); // the gear's move starts; no agent will ever copy it
        assert.equal((await h.store.getNodeByName(chosen))!.state, 'draining');

        h.advance(11_000);
        await h.broker.mover.passOnce(); // the drain passes its deadline and fails, its move rolls back
        await autoscaler.passOnce();
        const [operation] = await h.store.listOperations({ kind: 'scale-down' });
        assert.equal(operation!.status, 'failed');
        assert.match(operation!.error!, /its drain failed: the deadline passed with 1 of 1 gear\(s\) still on node/);
        assert.equal((await h.store.getNodeByName(chosen))!.state, 'active', 'the node takes gears again');
        assert.equal((await h.store.listGears()).filter((gear) => gear.nodeId === (operation!.data as { nodeId: string }).nodeId).length, 1, 'its gear is still there');
        const failed = (await h.store.listEvents({ limit: 100, kind: 'pool.scale-down-failed' }))[0]!;
        assert.match(failed.message, /scale-down of node .* failed: its drain failed: the deadline passed/);
        const memory = await h.store.getPoolMemory('small');
        assert.equal(memory.failures, 1);

        // Backing off: no second attempt within SCALE_BACKOFF_INITIAL.
        const [waiting] = await autoscaler.passOnce();
        assert.equal(waiting!.plan.kind, 'wait', waiting!.plan.reason);
        assert.match(waiting!.plan.reason, /backing off after 1 failure\(s\)/);
        assert.equal((await h.store.listOperations({ kind: 'scale-down' })).length, 1);
        h.advance(61_000);
        const [again] = await autoscaler.passOnce();
        assert.equal(again!.plan.kind, 'scale-down', 'tried again after the backoff');
        assert.equal(again!.plan.kind === 'scale-down' && again!.plan.step, 'cordon');
      }));

    it('paused: the plan says so and nothing starts; resumed: it acts', () =>
      withHarness(dialect, async (h) => {
        await h.createDistrict('east');
        await h.registerNodes(2, { district: 'east', withEndpoint: true });
        await h.ok('POST', '/autoscaler/pause', { token: h.admin.token, body: {} });
        const [paused] = await h.broker.autoscaler!.passOnce();
        assert.equal(paused!.plan.kind, 'wait');
        assert.match(paused!.plan.reason, /paused \(by admin\)/);
        assert.equal((await h.store.listOperations({ kind: 'scale-down' })).length, 0);
        await h.ok('POST', '/autoscaler/resume', { token: h.admin.token, body: {} });
        const [resumed] = await h.broker.autoscaler!.passOnce();
        assert.equal(resumed!.plan.kind, 'scale-down');
      }));

    it('a refused app create records its demand even when it does not wait; a host that never registers is deleted at PROVISION_TIMEOUT', () =>
      withHarness(
        dialect,
        async (h) => {
          await h.createDistrict('east');
          await h.registerNodes(1, { district: 'east', maxActiveGears: 2, withEndpoint: true });
          const user = await h.createUser('carol');
          await h.createDomain(user, 'demo');
          const refused = await h.call('POST', '/domains/demo/apps', { token: user.token, body: { name: 'big', cartridge: 'nodejs', gears: 3 } });
          assert.equal(refused.status, 503);
          assert.equal((refused.json as any).error.code, 'capacity_pending');
          assert.match((refused.json as any).error.message, /node 'node1' is full .*pool small is adding node hosts for it but none was ready within APP_CREATE_WAIT \(0 s\)/);
          assert.equal((await h.store.listApps()).length, 0, 'nothing half-created');

          const [pass] = await h.broker.autoscaler!.passOnce();
          assert.equal(pass!.plan.kind, 'scale-up', pass!.plan.reason);
          assert.match(pass!.plan.reason, /3 gear\(s\) refused for lack of room/);
          const provider = h.broker.providers.get('small')!;
          assert.deepEqual((await provider.nodes()).map((node) => [node.name, node.status]), [['local-node-1', 'creating']], 'asked for, still booting');

          h.advance(11_000);
          await h.broker.autoscaler!.passOnce();
          const [operation] = await h.store.listOperations({ kind: 'scale-up' });
          assert.equal(operation!.status, 'failed');
          assert.match(operation!.error!, /1 node host\(s\) did not register within PROVISION_TIMEOUT \(10 s\); deleted local-node-1/);
          assert.deepEqual(await provider.nodes(), [], 'the unregistered host is deleted');
          assert.equal((await h.store.getPoolMemory('small')).failures, 1);
          assert.equal((await h.store.listEvents({ limit: 10, kind: 'pool.scale-up-failed' })).length, 1);
        },
        { APP_CREATE_WAIT: '0', LOCAL_BOOT_DELAY: '3600', PROVISION_TIMEOUT: '10' },
      ));

    it('a pool at its max refuses an app that does not fit at once, saying so', () =>
      withHarness(
        dialect,
        async (h) => {
          await h.createDistrict('east');
          await h.registerNodes(2, { district: 'east', maxActiveGears: 1, withEndpoint: true });
          const user = await h.createUser('dave');
          await h.createDomain(user, 'demo');
          const started = Date.now();
          const refused = await h.call('POST', '/domains/demo/apps', { token: user.token, body: { name: 'big', cartridge: 'nodejs', gears: 3 } });
          assert.equal(refused.status, 409);
          assert.equal((refused.json as any).error.code, 'no_capacity');
          assert.match((refused.json as any).error.message, /pool small is at its maximum of 2 node host\(s\)/);
          assert.ok(Date.now() - started < 5000, 'refused at once, not after APP_CREATE_WAIT');
        },
        { AUTOSCALE_POOLS: 'small min=1 max=2' },
      ));

    it('the autoscaler\'s REST needs the admin role: anonymous 401, user 403', () =>
      withHarness(dialect, async (h) => {
        const user = await h.createUser('plain');
        for (const [method, path] of [['GET', '/autoscaler'], ['GET', '/autoscaler/plan'], ['POST', '/autoscaler/pause'], ['POST', '/autoscaler/resume']] as const) {
          assert.equal((await h.call(method, path, method === 'POST' ? { body: {} } : {})).status, 401, `${method} ${path} anonymous`);
          assert.equal((await h.call(method, path, { token: user.token, ...(method === 'POST' ? { body: {} } : {}) })).status, 403, `${method} ${path} as a user`);
        }
        const bad = await h.call('POST', '/autoscaler/pause', { token: h.admin.token, body: { pool: 'small', extra: 1 } });
        assert.equal(bad.status, 400);
        assert.equal(await h.store.getPoolMemory('small').then((memory) => memory.paused), null, 'a bad request pauses nothing');
      }));
  });
}

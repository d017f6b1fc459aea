import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';

import pino from 'pino';

import { NodeHealthController } from '../../../src/broker/node-health-controller.ts';
import { BOOTSTRAP_TOKEN, withBroker, type BrokerHarness, type HarnessNode } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const FACTS = { maxActiveGears: 10, gears: { started: 1, idle: 0, stopped: 0, unknown: 0 } };

function healthController(h: BrokerHarness): NodeHealthController {
  return new NodeHealthController(h.store, h.broker.context.events, h.config, h.clock, pino({ level: 'silent' }));
}

async function state(h: BrokerHarness, name: string): Promise<string> {
  return (await h.ok('GET', `/nodes/${name}`, { token: h.admin.token })).state;
}

async function heartbeat(h: BrokerHarness, node: HarnessNode) {
  return h.ok('POST', `/nodes/${node.name}/heartbeat`, { token: node.credential, body: FACTS });
}

async function nodeEvents(h: BrokerHarness, kind: string) {
  return (await h.ok('GET', `/events?kind=${kind}`, { token: h.admin.token })).items;
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: lost nodes`, { skip: storeSkipReason(dialect) }, () => {
    it('a node silent for NODE_LOST_AFTER becomes lost with a node.lost event; a heartbeat brings back its previous state', () =>
      withBroker(dialect, async (h) => {
        const lostAfter = h.config.nodeLostAfterSeconds * 1000;
        await h.createDistrict('east');
        const [busy, resting] = await h.registerNodes(2, { district: 'east' });
        await h.ok('POST', `/nodes/${resting!.name}/deactivate`, { token: h.admin.token });
        const health = healthController(h);

        // Just inside the deadline: nothing happens.
        h.advance(lostAfter - 1000);
        await health.checkOnce();
        assert.equal(await state(h, busy!.name), 'active');
        assert.deepEqual(await nodeEvents(h, 'node.lost'), []);

        // busy keeps heartbeating, resting goes silent.
        await heartbeat(h, busy!);
        h.advance(2000);
        await health.checkOnce();
        assert.equal(await state(h, busy!.name), 'active');
        assert.equal(await state(h, resting!.name), 'lost');
        const [lost] = await nodeEvents(h, 'node.lost');
        assert.equal(lost.subject, `node:${resting!.name}`);
        assert.equal(lost.severity, 'warning');
        assert.match(lost.message, new RegExp(`${resting!.name} is lost: no heartbeat for ${lostAfter / 1000 + 1} s`));
        assert.equal(lost.data.previousState, 'deactivated');

        // Checking again reports nothing new.
        await health.checkOnce();
        assert.equal((await nodeEvents(h, 'node.lost')).length, 1);

        // The heartbeat brings it back as it was: deactivated stays deactivated.
        const back = await heartbeat(h, resting!);
        assert.equal(back.state, 'deactivated');
        const [recovered] = await nodeEvents(h, 'node.recovered');
        assert.equal(recovered.subject, `node:${resting!.name}`);
        assert.equal(recovered.data.state, 'deactivated');

        // busy goes silent too, and comes back active.
        h.advance(lostAfter + 1);
        await health.checkOnce();
        assert.equal(await state(h, busy!.name), 'lost');
        assert.equal((await heartbeat(h, busy!)).state, 'active');
        assert.deepEqual((await nodeEvents(h, 'node.recovered')).map((event: { data: { state: string } }) => event.data.state), ['deactivated', 'active']);
      }));

    it('a lost node takes no new gears, and an admin activation while lost applies on recovery', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob');
        await h.createDomain(bob, 'bobs');
        await h.createDistrict('east');
        const [node] = await h.registerNodes(1, { district: 'east' });
        await h.ok('POST', `/nodes/${node!.name}/deactivate`, { token: h.admin.token });
        h.advance(h.config.nodeLostAfterSeconds * 1000 + 1);
        await healthController(h).checkOnce();
        assert.equal(await state(h, node!.name), 'lost');

        const refused = await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' } });
        assert.equal(refused.status, 409);
        assert.equal(refused.json.error.code, 'no_capacity');
        assert.match(refused.json.error.message, /lost/);

        // The operator re-activates it while it is lost: remembered, applied when it returns.
        assert.equal((await h.ok('POST', `/nodes/${node!.name}/activate`, { token: h.admin.token })).state, 'lost');
        assert.equal((await heartbeat(h, node!)).state, 'active');
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
      }));

    it('the broker\'s own controller marks a silent node lost (NODE_LOST_AFTER=2, NODE_HEARTBEAT_INTERVAL=1)', () =>
      withBroker(
        dialect,
        async (h) => {
          const registered = await h.ok('POST', '/nodes/register', { token: BOOTSTRAP_TOKEN, body: { name: 'node1', gearProfile: 'small', maxActiveGears: 10 }, status: 201 });
          assert.equal(registered.heartbeatIntervalSeconds, 1, 'the agent is told the configured interval');
          const node = { name: 'node1' };
          h.advance(2001);
          // The controller checks every 500 ms (a quarter of NODE_LOST_AFTER) on the harness clock.
          const deadline = Date.now() + 5000;
          while ((await state(h, node.name)) !== 'lost') {
            assert.ok(Date.now() < deadline, 'the controller did not mark the node lost within 5 s');
            await sleep(100);
          }
          assert.equal((await nodeEvents(h, 'node.lost')).length, 1);
        },
        { controllers: true, env: { NODE_LOST_AFTER: '2', NODE_HEARTBEAT_INTERVAL: '1' } },
      ));
  });
}

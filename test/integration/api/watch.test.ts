import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assertApiError, withBroker, type BrokerHarness } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const ROUTER_TOKEN = 'router-secret-0123456789abcdef';

async function platform(h: BrokerHarness) {
  await h.createDistrict('east');
  const nodes = await h.registerNodes(2, { district: 'east' });
  const bob = await h.createUser('bob');
  await h.createDomain(bob, 'bobs');
  return { nodes, bob };
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: watches (node gears, route table)`, { skip: storeSkipReason(dialect) }, () => {
    it('wakes a waiting node watch as soon as its gears change, not at the end of the wait', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h);
        const first = await h.ok('GET', '/nodes/node1/gears', { token: nodes[0]!.credential });
        assert.deepEqual(first.items, []);

        const started = Date.now();
        const waiting = h.call('GET', `/nodes/node1/gears?since=${first.version}&wait=30`, { token: nodes[0]!.credential });
        await new Promise((resolve) => setTimeout(resolve, 100));
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
        const woken = await waiting;
        assert.equal(woken.status, 200);
        assert.equal(woken.json.items.length, 1, 'one of the two gears is on node1 (spread)');
        assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms, not at the end of the 30 s wait`);
      }));

    it('answers 304 when nothing changed within the wait, and a watch of another node is not woken', () =>
      withBroker(dialect, async (h) => {
        const { nodes } = await platform(h);
        const first = await h.ok('GET', '/nodes/node2/gears', { token: nodes[1]!.credential });
        const none = await h.call('GET', `/nodes/node2/gears?since=${first.version}&wait=1`, { token: nodes[1]!.credential });
        assert.equal(none.status, 304);
        assert.equal(none.text, '');
        assertApiError(await h.call('GET', '/nodes/node2/gears?wait=61', { token: nodes[1]!.credential }), { status: 400, field: 'wait' });
        assertApiError(await h.call('GET', '/nodes/node2/gears?since=bad!version', { token: nodes[1]!.credential }), { status: 400, field: 'since' });
      }));

    it('serves the route table to the router token: started endpoints only, stopped apps without endpoints', () =>
      withBroker(
        dialect,
        async (h) => {
          const { nodes, bob } = await platform(h);
          const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
          const empty = await h.ok('GET', '/routes', { token: ROUTER_TOKEN });
          assert.deepEqual(empty.items, [{ host: 'web-bobs.localhost', app: 'web', domain: 'bobs', desiredState: 'started', endpoints: [] }]);

          // The router's watch wakes when a gear reports itself started.
          const waiting = h.call('GET', `/routes?since=${empty.version}&wait=30`, { token: ROUTER_TOKEN });
          const gear = app.gears.find((each: { node: string }) => each.node === 'node1');
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.equal((await h.call('PUT', `/nodes/node1/gears/${gear.id}`, { token: nodes[0]!.credential, body: { observedState: 'started', endpoint: '127.0.0.1:40001' } })).status, 204);
          const routed = await waiting;
          assert.equal(routed.status, 200);
          assert.deepEqual(routed.json.items[0].endpoints, ['127.0.0.1:40001']);

          // A gear that is not started (yet, or any more) is not routed to.
          const other = app.gears.find((each: { node: string }) => each.node === 'node2');
          await h.call('PUT', `/nodes/node2/gears/${other.id}`, { token: nodes[1]!.credential, body: { observedState: 'unknown', endpoint: '127.0.0.1:40002' } });
          assert.deepEqual((await h.ok('GET', '/routes', { token: ROUTER_TOKEN })).items[0].endpoints, ['127.0.0.1:40001']);

          await h.ok('POST', '/domains/bobs/apps/web/stop', { token: bob.token });
          const stopped = await h.ok('GET', '/routes', { token: ROUTER_TOKEN });
          assert.deepEqual(stopped.items, [{ host: 'web-bobs.localhost', app: 'web', domain: 'bobs', desiredState: 'stopped', endpoints: [] }]);

          await h.call('DELETE', '/domains/bobs/apps/web', { token: bob.token });
          assert.deepEqual((await h.ok('GET', '/routes', { token: ROUTER_TOKEN })).items, []);
        },
        { env: { ROUTER_TOKEN } },
      ));

    it('gives the route table to the router token and admins only, and the router token nothing else', () =>
      withBroker(
        dialect,
        async (h) => {
          const { nodes, bob } = await platform(h);
          assert.equal((await h.call('GET', '/routes', { token: h.admin.token })).status, 200);
          assertApiError(await h.call('GET', '/routes'), { status: 401 });
          assertApiError(await h.call('GET', '/routes', { token: bob.token }), { status: 403 });
          assertApiError(await h.call('GET', '/routes', { token: nodes[0]!.credential }), { status: 403 });
          assertApiError(await h.call('GET', '/domains', { token: ROUTER_TOKEN }), { status: 403 });
          assertApiError(await h.call('GET', '/nodes/node1/gears', { token: ROUTER_TOKEN }), { status: 403 });
          assertApiError(await h.call('POST', '/nodes/register', { token: ROUTER_TOKEN, body: { name: 'evil', gearProfile: 'small', maxActiveGears: 1 } }), { status: 403 });
        },
        { env: { ROUTER_TOKEN } },
      ));
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assertApiError, BOOTSTRAP_TOKEN, withBroker, type BrokerHarness } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const NODE_KEYS = [
  'activeUsagePct',
  'createdAt',
  'district',
  'endpoint',
  'gearProfile',
  'gears',
  'id',
  'lastHeartbeatAt',
  'maxActiveGears',
  'name',
  'placedActiveGears',
  'scaleEventId',
  'state',
];

async function district(h: BrokerHarness, name: string) {
  return h.ok('GET', `/districts/${name}`, { token: h.admin.token });
}

async function node(h: BrokerHarness, name: string) {
  return h.ok('GET', `/nodes/${name}`, { token: h.admin.token });
}

/** bob with domain `bobs`; returns a function creating app `name` with `gears` gears. */
async function appMaker(h: BrokerHarness) {
  const bob = await h.createUser('bob');
  await h.createDomain(bob, 'bobs');
  return async (name: string, gears = 1) => h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name, cartridge: 'nodejs', gears }, status: 201 });
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: districts`, { skip: storeSkipReason(dialect) }, () => {
    it('creates districts with the configured defaults or given values; lists and shows them', () =>
      withBroker(dialect, async (h) => {
        const east = await h.createDistrict('east');
        assert.deepEqual(Object.keys(east).sort(), ['availableUids', 'createdAt', 'firstUid', 'gearProfile', 'id', 'maxCapacity', 'name', 'nodes']);
        assert.deepEqual({ ...east, id: undefined, createdAt: undefined }, {
          id: undefined,
          createdAt: undefined,
          name: 'east',
          gearProfile: 'small',
          firstUid: 1000,
          maxCapacity: 6000,
          availableUids: 6000,
          nodes: [],
        });
        const west = await h.createDistrict('west', { gearProfile: 'medium', firstUid: 20000, maxCapacity: 50 });
        assert.equal(west.gearProfile, 'medium');
        assert.equal(west.firstUid, 20000);
        assert.equal(west.maxCapacity, 50);
        assert.equal(west.availableUids, 50);

        const list = await h.ok('GET', '/districts', { token: h.admin.token });
        assert.deepEqual(list.items.map((each: { name: string }) => each.name).sort(), ['east', 'west']);
        assert.deepEqual(await district(h, 'west'), west);
        assertApiError(await h.call('GET', '/districts/north', { token: h.admin.token }), { status: 404, code: 'district_not_found', field: 'name' });
      }));

    it('adds an empty node of its profile; refuses one in a district, of another profile, or holding gears', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        await h.createDistrict('west');
        await h.createDistrict('big', { gearProfile: 'medium' });
        const [free] = await h.registerNodes(1);
        const [medium] = await h.registerNodes(1, { gearProfile: 'medium', prefix: 'med' });
        assert.equal((await node(h, free!.name)).district, null);

        const added = await h.ok('POST', '/districts/east/nodes', { token: h.admin.token, body: { node: free!.name } });
        assert.deepEqual(added.nodes, [{ name: free!.name, active: true, state: 'active' }]);
        assert.equal((await node(h, free!.name)).district, 'east');

        assertApiError(await h.call('POST', '/districts/east/nodes', { token: h.admin.token, body: { node: free!.name } }), { status: 409, code: 'node_in_district', field: 'node' });
        assertApiError(await h.call('POST', '/districts/west/nodes', { token: h.admin.token, body: { node: free!.name } }), { status: 409, code: 'node_in_other_district', field: 'node' });
        assertApiError(await h.call('POST', '/districts/east/nodes', { token: h.admin.token, body: { node: medium!.name } }), { status: 409, code: 'profile_mismatch', field: 'node' });
        assertApiError(await h.call('POST', '/districts/east/nodes', { token: h.admin.token, body: { node: 'ghost' } }), { status: 404, code: 'node_not_found', field: 'node' });
        assert.deepEqual((await district(h, 'west')).nodes, []);
        assert.equal((await node(h, medium!.name)).district, null);

        // A node holding gears outside any district cannot come about through the API; the
        // store is set up directly to check the guard.
        const makeApp = await appMaker(h);
        await makeApp('web');
        await h.store.setNodeDistrict(free!.id, null);
        assertApiError(await h.call('POST', '/districts/west/nodes', { token: h.admin.token, body: { node: free!.name } }), { status: 409, code: 'node_not_empty', field: 'node' });
        assert.equal((await node(h, free!.name)).district, null);
        assert.equal((await h.ok('POST', '/districts/big/nodes', { token: h.admin.token, body: { node: medium!.name } })).nodes.length, 1);
      }));

    it('lists of apps show each app\'s own gears on their nodes, as the app itself does', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        await h.registerNodes(3, { district: 'east' });
        const makeApp = await appMaker(h);
        for (const [name, gears] of [['one', 2], ['two', 3], ['three', 1], ['four', 2]] as const) await makeApp(name, gears);
        const token = h.admin.token;
        const shown = async (name: string) => h.ok('GET', `/domains/bobs/apps/${name}`, { token });
        const expected = await Promise.all(['one', 'two', 'three', 'four'].map(shown));
        assert.deepEqual(expected.map((app) => app.gears.length), [2, 3, 1, 2]);
        assert.ok(new Set(expected.flatMap((app) => app.gears.map((gear: { node: string }) => gear.node))).size > 1, 'gears on several nodes');
        const byName = (items: { name: string }[]) => Object.fromEntries(items.map((item) => [item.name, item]));
        for (const path of ['/domains/bobs/apps', '/apps']) {
          const listed = byName((await h.ok('GET', path, { token })).items);
          for (const app of expected) assert.deepEqual(listed[app.name], app, `${path}: ${app.name}`);
        }
      }));

    it('a deactivated node takes no new gears; activated again it does', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        await h.registerNodes(2, { district: 'east' });
        const makeApp = await appMaker(h);

        const deactivated = await h.ok('POST', '/districts/east/nodes/node1/deactivate', { token: h.admin.token });
        assert.deepEqual(deactivated.nodes.find((each: { name: string }) => each.name === 'node1'), { name: 'node1', active: false, state: 'deactivated' });
        const first = await makeApp('first', 3);
        assert.deepEqual(first.gears.map((gear: { node: string }) => gear.node), ['node2', 'node2', 'node2']);

        const activated = await h.ok('POST', '/districts/east/nodes/node1/activate', { token: h.admin.token });
        assert.deepEqual(activated.nodes.find((each: { name: string }) => each.name === 'node1'), { name: 'node1', active: true, state: 'active' });
        const second = await makeApp('second', 1);
        assert.deepEqual(second.gears.map((gear: { node: string }) => gear.node), ['node1'], 'node1 is the least loaded');
      }));

    it('activates and deactivates only nodes of the district named', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        await h.createDistrict('west');
        await h.registerNodes(1, { district: 'east' });
        assertApiError(await h.call('POST', '/districts/west/nodes/node1/deactivate', { token: h.admin.token }), { status: 409, code: 'node_not_in_district', field: 'node' });
        assert.equal((await node(h, 'node1')).state, 'active');
      }));

    it('removes a node only when it is inactive and empty', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        await h.registerNodes(2, { district: 'east' });
        const makeApp = await appMaker(h);
        await makeApp('web', 2); // one gear on each node

        assertApiError(await h.call('DELETE', '/districts/east/nodes/node1', { token: h.admin.token }), { status: 409, code: 'node_active', field: 'node' });
        await h.ok('POST', '/nodes/node1/deactivate', { token: h.admin.token });
        assertApiError(await h.call('DELETE', '/districts/east/nodes/node1', { token: h.admin.token }), { status: 409, code: 'node_not_empty', field: 'node' });
        assert.equal((await district(h, 'east')).nodes.length, 2);

        assert.equal((await h.call('DELETE', '/domains/bobs/apps/web', { token: h.admin.token })).status, 204);
        const removed = await h.ok('DELETE', '/districts/east/nodes/node1', { token: h.admin.token });
        assert.deepEqual(removed.nodes.map((each: { name: string }) => each.name), ['node2']);
        assert.equal((await node(h, 'node1')).district, null);
        assertApiError(await h.call('DELETE', '/districts/east/nodes/node1', { token: h.admin.token }), { status: 409, code: 'node_not_in_district', field: 'node' });
      }));

    it('adds capacity and removes free UIDs from the end, never UIDs in use', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east', { maxCapacity: 4 });
        await h.registerNodes(1, { district: 'east' });
        const makeApp = await appMaker(h);

        const grown = await h.ok('POST', '/districts/east/capacity', { token: h.admin.token, body: { add: 6 } });
        assert.equal(grown.maxCapacity, 10);
        assert.equal(grown.availableUids, 10);
        const shrunk = await h.ok('POST', '/districts/east/capacity', { token: h.admin.token, body: { remove: 7 } });
        assert.equal(shrunk.maxCapacity, 3);
        assert.equal(shrunk.availableUids, 3);

        await makeApp('web', 2); // UIDs 1000, 1001 of 1000–1002
        const refused = await h.call('POST', '/districts/east/capacity', { token: h.admin.token, body: { remove: 2 } });
        assertApiError(refused, { status: 409, code: 'capacity_in_use', field: 'remove' });
        assert.deepEqual(
          { maxCapacity: (await district(h, 'east')).maxCapacity, availableUids: (await district(h, 'east')).availableUids },
          { maxCapacity: 3, availableUids: 1 },
          'the refused removal changed nothing',
        );
        const last = await h.ok('POST', '/districts/east/capacity', { token: h.admin.token, body: { remove: 1 } });
        assert.equal(last.maxCapacity, 2);
        assert.equal(last.availableUids, 0);
      }));
  });

  describe(`REST API on ${dialect}: nodes`, { skip: storeSkipReason(dialect) }, () => {
    it('registers a node: its view, a credential shown once, the heartbeat interval', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        const registered = await h.ok('POST', '/nodes/register', {
          token: BOOTSTRAP_TOKEN,
          body: { name: 'host-1.example.com', gearProfile: 'small', maxActiveGears: 25, endpoint: 'http://10.0.0.1:7481', district: 'east', scaleEventId: 'scale-42' },
          status: 201,
        });
        assert.deepEqual(Object.keys(registered).sort(), ['credential', 'heartbeatIntervalSeconds', 'node']);
        assert.match(registered.credential, /^gtn_[A-Za-z0-9_-]{43}$/);
        assert.equal(registered.heartbeatIntervalSeconds, h.config.nodeHeartbeatIntervalSeconds);
        assert.deepEqual(Object.keys(registered.node).sort(), NODE_KEYS);
        assert.equal(registered.node.name, 'host-1.example.com');
        assert.equal(registered.node.district, 'east');
        assert.equal(registered.node.state, 'active');
        assert.equal(registered.node.maxActiveGears, 25);
        assert.equal(registered.node.endpoint, 'http://10.0.0.1:7481');
        assert.equal(registered.node.scaleEventId, 'scale-42');
        assert.equal(registered.node.placedActiveGears, 0);

        const list = await h.ok('GET', '/nodes', { token: h.admin.token });
        assert.deepEqual(list.items, [registered.node]);
        assert.deepEqual(await node(h, 'host-1.example.com'), registered.node);
        assertApiError(await h.call('GET', '/nodes/ghost', { token: h.admin.token }), { status: 404, code: 'node_not_found', field: 'name' });
      }));

    it('re-registering keeps the node id, district, state and gears and rotates the credential', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        const [first] = await h.registerNodes(1, { district: 'east' });
        const makeApp = await appMaker(h);
        const app = await makeApp('web', 2);
        await h.ok('POST', '/nodes/node1/deactivate', { token: h.admin.token });

        const again = await h.ok('POST', '/nodes/register', { token: BOOTSTRAP_TOKEN, body: { name: 'node1', gearProfile: 'small', maxActiveGears: 12 }, status: 201 });
        assert.equal(again.node.id, first!.id);
        assert.equal(again.node.district, 'east');
        assert.equal(again.node.state, 'deactivated', 'an operator\'s deactivation survives an agent restart');
        assert.equal(again.node.maxActiveGears, 12);
        assert.notEqual(again.credential, first!.credential);
        const gears = await h.ok('GET', '/nodes/node1/gears', { token: again.credential });
        assert.deepEqual(gears.items.map((gear: { id: string }) => gear.id).sort(), app.gears.map((gear: { id: string }) => gear.id).sort());

        const heartbeat = { maxActiveGears: 12, gears: { started: 2, idle: 0, stopped: 0, unknown: 0 } };
        assertApiError(await h.call('POST', '/nodes/node1/heartbeat', { token: first!.credential, body: heartbeat }), { status: 401, code: 'unauthenticated' });
        assert.equal((await h.ok('POST', '/nodes/node1/heartbeat', { token: again.credential, body: heartbeat })).name, 'node1');
        assert.equal((await h.ok('GET', '/nodes', { token: h.admin.token })).items.length, 1);
      }));

    it('a heartbeat records the facts; active usage counts started and unknown gears', () =>
      withBroker(dialect, async (h) => {
        const [registered] = await h.registerNodes(1, { maxActiveGears: 10 });
        // Registration counts as the first sign of life, so a new node is not lost at once.
        assert.equal((await node(h, 'node1')).lastHeartbeatAt, new Date(h.now()).toISOString());
        h.advance(5_000);
        const beat = await h.ok('POST', '/nodes/node1/heartbeat', {
          token: registered!.credential,
          body: { maxActiveGears: 8, gears: { started: 3, idle: 2, stopped: 1, unknown: 1 } },
        });
        assert.deepEqual(beat.gears, { started: 3, idle: 2, stopped: 1, unknown: 1 });
        assert.equal(beat.maxActiveGears, 8);
        assert.equal(beat.activeUsagePct, 50, '(3 started + 1 unknown) * 100 / 8');
        assert.equal(beat.lastHeartbeatAt, new Date(h.now()).toISOString());
        assert.deepEqual(await node(h, 'node1'), beat);

        const third = await h.ok('POST', '/nodes/node1/heartbeat', { token: registered!.credential, body: { maxActiveGears: 3, gears: { started: 1, idle: 0, stopped: 5, unknown: 0 } } });
        assert.equal(third.activeUsagePct, 33.33);
      }));

    it('activates and deactivates a node (admin), idempotently, with events', () =>
      withBroker(dialect, async (h) => {
        await h.registerNodes(1);
        assert.equal((await h.ok('POST', '/nodes/node1/deactivate', { token: h.admin.token })).state, 'deactivated');
        assert.equal((await h.ok('POST', '/nodes/node1/deactivate', { token: h.admin.token })).state, 'deactivated');
        assert.equal((await h.ok('POST', '/nodes/node1/activate', { token: h.admin.token })).state, 'active');
        const events = await h.ok('GET', '/events?kind=node.deactivated', { token: h.admin.token });
        assert.equal(events.items.length, 1, 'the repeated deactivation recorded nothing');
        assert.match(events.items[0].message, /node1 deactivated.*by admin/);
        assertApiError(await h.call('POST', '/nodes/ghost/activate', { token: h.admin.token }), { status: 404, code: 'node_not_found' });
      }));

    it('lists the gears a node should run, and takes its reports of what it observes', () =>
      withBroker(dialect, async (h) => {
        await h.createDistrict('east');
        const [one, two] = await h.registerNodes(2, { district: 'east' });
        const makeApp = await appMaker(h);
        const app = await makeApp('web', 2);
        const onOne = app.gears.find((gear: { node: string }) => gear.node === 'node1');
        const onTwo = app.gears.find((gear: { node: string }) => gear.node === 'node2');

        const list = await h.ok('GET', '/nodes/node1/gears', { token: one!.credential });
        assert.deepEqual(list.items, [
          {
            id: onOne.id,
            uid: onOne.uid,
            app: 'web',
            appId: app.id,
            domain: 'bobs',
            cartridge: 'nodejs',
            gearProfile: 'small',
            desiredState: 'started',
            restartGeneration: 0,
            sourceVersion: null,
          },
        ]);
        assert.match(list.version, /^[A-Za-z0-9_-]+$/);
        assert.deepEqual(await h.ok('GET', '/nodes/node1/gears', { token: h.admin.token }), list);

        // The version is a resume token: unchanged → 304 after the wait; a change → the new list.
        const unchanged = await h.call('GET', `/nodes/node1/gears?since=${list.version}&wait=0`, { token: one!.credential });
        assert.equal(unchanged.status, 304);
        await h.ok('POST', '/domains/bobs/apps/web/restart', { token: h.admin.token });
        const changed = await h.ok('GET', `/nodes/node1/gears?since=${list.version}&wait=5`, { token: one!.credential });
        assert.notEqual(changed.version, list.version);
        assert.equal(changed.items[0].restartGeneration, 1);

        const report = await h.call('PUT', `/nodes/node1/gears/${onOne.id}`, { token: one!.credential, body: { observedState: 'started', endpoint: '10.0.0.1:35001' } });
        assert.equal(report.status, 204);
        const shown = await h.ok('GET', `/gears/${onOne.id}`, { token: h.admin.token });
        assert.equal(shown.observedState, 'started');
        assert.equal(shown.endpoint, '10.0.0.1:35001');

        // A node reports only its own gears.
        assertApiError(await h.call('PUT', `/nodes/node1/gears/${onTwo.id}`, { token: one!.credential, body: { observedState: 'stopped', endpoint: null } }), { status: 404, code: 'gear_not_found', field: 'id' });
        assert.equal((await h.ok('GET', `/gears/${onTwo.id}`, { token: h.admin.token })).observedState, 'new');
        assert.equal((await h.call('PUT', `/nodes/node2/gears/${onTwo.id}`, { token: two!.credential, body: { observedState: 'failed', endpoint: null } })).status, 204);
        assert.equal((await h.ok('GET', `/gears/${onTwo.id}`, { token: h.admin.token })).observedState, 'failed');
      }));
  });
}

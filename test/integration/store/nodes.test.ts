import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundError } from '../../../src/core/errors.ts';
import type { Store } from '../../../src/store/store.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, assertRejectsWith, createApp, placeGear, seedPlatform } from './store-fixtures.ts';

function register(store: Store, name: string, overrides: Partial<Parameters<Store['upsertNodeRegistration']>[0]> = {}) {
  return store.upsertNodeRegistration({
    name,
    gearProfile: 'small',
    maxActiveGears: 10,
    endpoint: `http://${name}:7000`,
    scaleEventId: null,
    credentialHash: `cred-${name}`,
    now: NOW,
    ...overrides,
  });
}

const NO_GEARS = { started: 0, idle: 0, stopped: 0, unknown: 0 };

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: nodes`, { skip: storeSkipReason(dialect) }, () => {
    it('registers a new node as active, outside any district, with its facts', () =>
      withStore(dialect, async (store) => {
        const node = await register(store, 'node-1', { scaleEventId: 'scale-7' });
        assert.deepEqual(node, {
          id: node.id,
          name: 'node-1',
          gearProfile: 'small',
          districtId: null,
          state: 'active',
          stateBeforeLost: null,
          maxActiveGears: 10,
          activeGears: 0,
          reportedGears: NO_GEARS,
          activeUsagePct: 0,
          endpoint: 'http://node-1:7000',
          scaleEventId: 'scale-7',
          lastHeartbeatAt: NOW,
          createdAt: NOW,
        });
        assert.deepEqual(await store.getNode(node.id), node);
        assert.deepEqual(await store.getNodeByName('node-1'), node);
        assert.deepEqual(await store.findNodeByCredentialHash('cred-node-1'), node);
        assert.equal(await store.getNode('nope'), undefined);
        assert.equal(await store.getNodeByName('nope'), undefined);
        assert.equal(await store.findNodeByCredentialHash('nope'), undefined);
      }));

    it('re-registration keeps id, district, state, gears and scale event; updates endpoint, facts, credential', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const gear = await placeGear(store, platform);
        await store.setNodeState(platform.node.id, 'deactivated');
        const before = (await store.getNode(platform.node.id))!;
        assert.equal(before.districtId, platform.district.id);

        // The first registration in seedPlatform had no scale event; record one, then restart without it.
        await register(store, 'node-1', { scaleEventId: 'scale-1', now: NOW + 10 });
        const again = await register(store, 'node-1', {
          maxActiveGears: 20,
          endpoint: 'http://10.0.0.9:7000',
          credentialHash: 'rotated',
          scaleEventId: null,
          now: NOW + 20,
        });
        assert.equal(again.id, before.id);
        assert.equal(again.districtId, platform.district.id);
        assert.equal(again.state, 'deactivated', "an operator's deactivation survives an agent restart");
        assert.equal(again.maxActiveGears, 20);
        assert.equal(again.endpoint, 'http://10.0.0.9:7000');
        assert.equal(again.scaleEventId, 'scale-1');
        assert.equal(again.lastHeartbeatAt, NOW + 20);
        assert.equal(again.createdAt, NOW);
        assert.equal(await store.findNodeByCredentialHash('cred-node-1'), undefined, 'the old credential no longer works');
        assert.equal((await store.findNodeByCredentialHash('rotated'))?.id, before.id);
        assert.deepEqual((await store.listGears({ nodeId: before.id })).map((g) => g.id), [gear.id]);
        assert.equal((await store.listNodes()).length, 1);
      }));

    it('re-registration brings a lost node back to the state it had, and a provisioning one to active', () =>
      withStore(dialect, async (store) => {
        const draining = await register(store, 'draining');
        await store.setNodeState(draining.id, 'lost', 'draining');
        assert.equal((await register(store, 'draining')).state, 'draining');
        assert.equal((await store.getNode(draining.id))?.stateBeforeLost, null);

        const booting = await register(store, 'booting');
        await store.setNodeState(booting.id, 'provisioning');
        assert.equal((await register(store, 'booting')).state, 'active');
      }));

    it('lists nodes by district, profile and states', () =>
      withStore(dialect, async (store) => {
        const district = await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 10, now: NOW });
        const a = await register(store, 'a');
        const b = await register(store, 'b');
        const c = await register(store, 'c', { gearProfile: 'large' });
        await store.setNodeDistrict(a.id, district.id);
        await store.setNodeDistrict(b.id, district.id);
        await store.setNodeState(b.id, 'draining');

        const names = async (filter?: Parameters<Store['listNodes']>[0]) => (await store.listNodes(filter)).map((node) => node.name);
        assert.deepEqual(await names(), ['a', 'b', 'c']);
        assert.deepEqual(await names({ districtId: district.id }), ['a', 'b']);
        assert.deepEqual(await names({ gearProfile: 'large' }), ['c']);
        assert.deepEqual(await names({ states: ['active'] }), ['a', 'c']);
        assert.deepEqual(await names({ states: ['active', 'draining'], gearProfile: 'small' }), ['a', 'b']);
        assert.deepEqual(await names({ states: [] }), []);
        assert.deepEqual(await names({ ids: [c.id, a.id, 'no-such-node'] }), ['a', 'c']);
        assert.deepEqual(await names({ ids: [a.id, b.id, c.id], gearProfile: 'small', states: ['draining'] }), ['b']);
        assert.deepEqual(await names({ ids: [] }), []);
        assert.equal(c.districtId, null);
      }));

    it('lists what placement reads: the profile\'s nodes but gone ones, with the active-gear count', () =>
      withStore(dialect, async (store) => {
        const district = await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 10, now: NOW });
        const b = await register(store, 'b', { maxActiveGears: 7 });
        const a = await register(store, 'a');
        const gone = await register(store, 'gone');
        await register(store, 'large-1', { gearProfile: 'large' });
        await store.setNodeDistrict(b.id, district.id);
        await store.setNodeState(a.id, 'lost', 'active');
        await store.setNodeState(gone.id, 'gone');
        const user = await store.createUser({ login: 'u', role: 'user', maxGears: 10, now: NOW });
        const domain = await store.createDomain({ name: 'd', ownerId: user.id, now: NOW });
        const app = await store.createApp({ name: 'x', domainId: domain.id, cartridge: 'nodejs', gearProfile: 'small', scaleMin: 1, scaleMax: 2, desiredState: 'started', now: NOW });
        await store.createGear({ appId: app.id, nodeId: b.id, districtId: district.id, uid: await store.allocateUid(district.id), desiredState: 'started', now: NOW });
        const placement = await store.listPlacementNodes('small');
        assert.deepEqual(placement, [
          { id: a.id, name: 'a', gearProfile: 'small', districtId: null, state: 'lost', maxActiveGears: a.maxActiveGears, activeGears: 0 },
          { id: b.id, name: 'b', gearProfile: 'small', districtId: district.id, state: 'active', maxActiveGears: 7, activeGears: 1 },
        ]);
        // The same facts as the whole node rows.
        const whole = await store.listNodes({ gearProfile: 'small', states: ['lost', 'active'] });
        assert.deepEqual(placement.map((node) => [node.id, node.activeGears, node.maxActiveGears, node.districtId]), whole.map((node) => [node.id, node.activeGears, node.maxActiveGears, node.districtId]));
        assert.deepEqual(await store.listPlacementNodes('none-such'), []);
      }));

    it('moves a node in and out of a district, refusing unknown nodes and districts', () =>
      withStore(dialect, async (store) => {
        const district = await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 10, now: NOW });
        const node = await register(store, 'a');
        await store.setNodeDistrict(node.id, district.id);
        assert.equal((await store.getNode(node.id))?.districtId, district.id);
        await store.setNodeDistrict(node.id, null);
        assert.equal((await store.getNode(node.id))?.districtId, null);
        await assertRejectsWith(store.setNodeDistrict(node.id, 'no-such-district'), NotFoundError, 'district_not_found', { field: 'districtId' });
        await assertRejectsWith(store.setNodeDistrict('no-such-node', district.id), NotFoundError, 'node_not_found');
      }));

    it('sets the state, writing stateBeforeLost only when given', () =>
      withStore(dialect, async (store) => {
        const node = await register(store, 'a');
        await store.setNodeState(node.id, 'lost', 'deactivated');
        assert.deepEqual(await store.getNode(node.id).then((n) => [n?.state, n?.stateBeforeLost]), ['lost', 'deactivated']);
        await store.setNodeState(node.id, 'draining');
        assert.deepEqual(await store.getNode(node.id).then((n) => [n?.state, n?.stateBeforeLost]), ['draining', 'deactivated']);
        await store.setNodeState(node.id, 'active', null);
        assert.deepEqual(await store.getNode(node.id).then((n) => [n?.state, n?.stateBeforeLost]), ['active', null]);
        await assertRejectsWith(store.setNodeState('nope', 'active'), NotFoundError, 'node_not_found');
      }));

    it('records a heartbeat: facts, time, and a lost node back to its previous state', () =>
      withStore(dialect, async (store) => {
        const node = await register(store, 'a');
        const beat = await store.recordHeartbeat({
          nodeId: node.id,
          maxActiveGears: 12,
          reportedGears: { started: 3, idle: 1, stopped: 2, unknown: 1 },
          activeUsagePct: 33.333333333333336,
          now: NOW + 100,
        });
        assert.deepEqual(beat.reportedGears, { started: 3, idle: 1, stopped: 2, unknown: 1 });
        assert.equal(beat.maxActiveGears, 12);
        assert.equal(beat.activeUsagePct, 33.333333333333336, 'stored as a double, not a float');
        assert.equal(beat.lastHeartbeatAt, NOW + 100);
        assert.equal(beat.state, 'active');

        await store.setNodeState(node.id, 'lost', 'deactivated');
        const back = await store.recordHeartbeat({ nodeId: node.id, maxActiveGears: 12, reportedGears: NO_GEARS, activeUsagePct: 0, now: NOW + 200 });
        assert.equal(back.state, 'deactivated');
        assert.equal(back.stateBeforeLost, null);
        await assertRejectsWith(store.recordHeartbeat({ nodeId: 'nope', maxActiveGears: 1, reportedGears: NO_GEARS, activeUsagePct: 0, now: NOW }), NotFoundError, 'node_not_found');
      }));

    it('marks lost only stale nodes in active, deactivated or draining, remembering their state', () =>
      withStore(dialect, async (store) => {
        const beat = (id: string, now: number) => store.recordHeartbeat({ nodeId: id, maxActiveGears: 10, reportedGears: NO_GEARS, activeUsagePct: 0, now });
        const stale = await register(store, 'stale-active');
        const staleDeactivated = await register(store, 'stale-deactivated');
        const staleDraining = await register(store, 'stale-draining');
        const fresh = await register(store, 'fresh');
        const provisioning = await register(store, 'stale-provisioning');
        const deprovisioning = await register(store, 'stale-deprovisioning');
        const alreadyLost = await register(store, 'already-lost');
        await store.setNodeState(staleDeactivated.id, 'deactivated');
        await store.setNodeState(staleDraining.id, 'draining');
        await store.setNodeState(provisioning.id, 'provisioning');
        await store.setNodeState(deprovisioning.id, 'deprovisioning');
        await store.setNodeState(alreadyLost.id, 'lost', 'active');
        await beat(fresh.id, NOW + 60_000);
        await beat(stale.id, NOW + 29_999);

        const marked = await store.markLostNodes(NOW + 30_000);
        assert.deepEqual(
          marked.map((node) => [node.name, node.state, node.stateBeforeLost]),
          [
            ['stale-active', 'lost', 'active'],
            ['stale-deactivated', 'lost', 'deactivated'],
            ['stale-draining', 'lost', 'draining'],
          ],
        );
        assert.equal((await store.getNode(fresh.id))?.state, 'active');
        assert.equal((await store.getNode(provisioning.id))?.state, 'provisioning');
        assert.equal((await store.getNode(deprovisioning.id))?.state, 'deprovisioning');
        assert.equal((await store.getNode(alreadyLost.id))?.stateBeforeLost, 'active', 'a lost node is not marked again');
        assert.deepEqual(await store.markLostNodes(NOW + 30_000), [], 'a second pass finds nothing new');
        // The boundary: a heartbeat exactly at `before` is not older than it.
        assert.deepEqual(await store.markLostNodes(NOW + 60_000), []);
      }));

    it('counts gears per node, active (desired started) and all', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const other = await register(store, 'node-2');
        const empty = await register(store, 'node-3');
        await placeGear(store, platform);
        await placeGear(store, platform);
        await placeGear(store, platform, 'stopped');
        await placeGear(store, { ...platform, node: other });

        const all = await store.countActiveGearsByNode();
        assert.equal(all.get(platform.node.id), 2);
        assert.equal(all.get(other.id), 1);
        assert.equal(all.has(empty.id), false, 'without a filter, only nodes with active gears appear');

        const some = await store.countActiveGearsByNode([platform.node.id, empty.id]);
        assert.deepEqual([...some.entries()].sort(), [[empty.id, 0], [platform.node.id, 2]].sort());
        assert.equal((await store.countActiveGearsByNode([])).size, 0);

        assert.equal(await store.countGearsOnNode(platform.node.id), 3, 'stopped gears still occupy the node');
        assert.equal(await store.countGearsOnNode(empty.id), 0);

        assert.equal((await store.getNode(platform.node.id))?.activeGears, 2, 'the node row carries the same count');
        // All gears, stopped ones included, every node asked about included: what the autoscaler reads.
        const total = await store.countGearsByNode([platform.node.id, other.id, empty.id]);
        assert.deepEqual([...total.entries()].sort(), [[platform.node.id, 3], [other.id, 1], [empty.id, 0]].sort());
        assert.equal((await store.countGearsByNode([])).size, 0);
      }));

    it('lists the gears of some nodes, or of some apps; an empty list matches none', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const other = await register(store, 'node-2');
        const third = await register(store, 'node-3');
        const a = await placeGear(store, platform);
        const b = await placeGear(store, { ...platform, node: other });
        const second = await createApp(store, platform.app.domainId, 'second');
        const c = await placeGear(store, { ...platform, app: second, node: third });
        const d = await placeGear(store, { ...platform, app: second });

        const ids = (gears: { id: string }[]) => gears.map((gear) => gear.id).sort();
        assert.deepEqual(ids(await store.listGears({ nodeIds: [platform.node.id, other.id] })), ids([a, b, d]));
        assert.deepEqual(ids(await store.listGears({ appIds: [second.id] })), ids([c, d]));
        assert.deepEqual(ids(await store.listGears({ appIds: [second.id], nodeIds: [third.id] })), ids([c]));
        assert.deepEqual(await store.listGears({ nodeIds: [] }), []);
        assert.deepEqual(await store.listGears({ appIds: [] }), []);
      }));
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ConflictError } from '../../../src/core/errors.ts';
import type { Store } from '../../../src/store/store.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, assertRejectsWith, placeGear, seedPlatform } from './store-fixtures.ts';

async function secondNode(store: Store, districtId: string, name = 'node-2') {
  const node = await store.upsertNodeRegistration({ name, gearProfile: 'small', maxActiveGears: 50, endpoint: 'http://127.0.0.1:7002', scaleEventId: null, credentialHash: `cred-${name}`, now: NOW });
  await store.setNodeDistrict(node.id, districtId);
  return node;
}

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: gear moves and routers`, { skip: storeSkipReason(dialect) }, () => {
    it('reserves room on the target, shows the gear to the target from copying on, and completes in-district keeping the UID', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const gear = await placeGear(store, platform);
        const target = await secondNode(store, platform.district.id);
        const operation = await store.createOperation({ kind: 'move', subject: `gear:${gear.id}`, phase: 'planned', data: {}, now: NOW });
        await store.createGearMove({ gearId: gear.id, appId: gear.appId, operationId: operation.id, sourceNodeId: platform.node.id, targetNodeId: target.id, targetDistrictId: platform.district.id, targetUid: gear.uid, token: 'tok', phase: 'planned', now: NOW });

        assert.equal((await store.countActiveGearsByNode([target.id])).get(target.id), 1, 'the target counts the incoming gear');
        assert.deepEqual(await store.listNodeAssignments(target.id), [], 'not visible to the target while planned');
        await store.updateGearMove(gear.id, { phase: 'copying', now: NOW + 1 });
        assert.deepEqual((await store.listNodeAssignments(target.id)).map((each) => each.gearId), [gear.id]);
        assert.deepEqual((await store.listNodeAssignments(platform.node.id)).map((each) => each.gearId), [gear.id], 'the source keeps it');

        await assertRejectsWith(
          store.createGearMove({ gearId: gear.id, appId: gear.appId, operationId: operation.id, sourceNodeId: platform.node.id, targetNodeId: target.id, targetDistrictId: platform.district.id, targetUid: gear.uid, token: 'x', phase: 'planned', now: NOW }),
          ConflictError,
          'gear_moving',
        );

        const updated = await store.updateGearMove(gear.id, { targetState: 'started', targetEndpoint: '127.0.0.1:5000', pauseMs: 12, routePhase: 'both', now: NOW + 2 });
        assert.equal(updated.routePhase, 'both');
        assert.equal(updated.pauseMs, 12);
        assert.deepEqual((await store.listGearMoves({ nodeId: target.id })).map((each) => each.gearId), [gear.id]);

        const before = (await store.getDistrict(platform.district.id))!.availableUids;
        const moved = await store.completeGearMove(gear.id, NOW + 3);
        assert.equal(moved.nodeId, target.id);
        assert.equal(moved.uid, gear.uid, 'a gear keeps its UID inside its district');
        assert.equal(moved.endpoint, '127.0.0.1:5000');
        assert.equal(await store.getGearMove(gear.id), undefined);
        assert.equal((await store.getDistrict(platform.district.id))!.availableUids, before, 'no UID freed or taken');
        assert.deepEqual(await store.listNodeAssignments(platform.node.id), []);
        assert.equal((await store.countActiveGearsByNode([target.id])).get(target.id), 1, 'counted once, as its own gear now');
      }));

    it('gives the reserved UID back on rollback of a move to another district, and the old one on completion', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const other = await store.createDistrict({ name: 'small-2', gearProfile: 'small', firstUid: 5000, maxCapacity: 10, now: NOW });
        const target = await secondNode(store, other.id);
        const operation = await store.createOperation({ kind: 'move', subject: 'gear', phase: 'planned', data: {}, now: NOW });

        const first = await placeGear(store, platform);
        const reserved = await store.allocateUid(other.id);
        await store.createGearMove({ gearId: first.id, appId: first.appId, operationId: operation.id, sourceNodeId: platform.node.id, targetNodeId: target.id, targetDistrictId: other.id, targetUid: reserved, token: 't', phase: 'planned', now: NOW });
        assert.equal((await store.getDistrict(other.id))!.availableUids, 9);
        await store.deleteGearMove(first.id);
        await store.deleteGearMove(first.id); // idempotent
        assert.equal((await store.getDistrict(other.id))!.availableUids, 10, 'rollback frees the reserved UID');
        assert.equal((await store.getGear(first.id))!.uid, first.uid, 'the gear keeps its UID');

        const sourceFree = (await store.getDistrict(platform.district.id))!.availableUids;
        const again = await store.allocateUid(other.id);
        await store.createGearMove({ gearId: first.id, appId: first.appId, operationId: operation.id, sourceNodeId: platform.node.id, targetNodeId: target.id, targetDistrictId: other.id, targetUid: again, token: 't', phase: 'routed-target', now: NOW });
        const moved = await store.completeGearMove(first.id, NOW);
        assert.equal(moved.districtId, other.id);
        assert.equal(moved.uid, again);
        assert.equal((await store.getDistrict(platform.district.id))!.availableUids, sourceFree + 1, 'the old district gets its UID back');
      }));

    it('records router polls: seen always, served only when given the current table', () =>
      withStore(dialect, async (store) => {
        await store.recordRouterPoll({ name: 'r1', served: true, now: NOW });
        await store.recordRouterPoll({ name: 'r1', served: false, now: NOW + 10 });
        await store.recordRouterPoll({ name: 'r2', served: false, now: NOW + 20 });
        assert.deepEqual(await store.listRouters(NOW), [
          { name: 'r1', lastSeenAt: NOW + 10, lastServedAt: NOW },
          { name: 'r2', lastSeenAt: NOW + 20, lastServedAt: 0 },
        ]);
        assert.deepEqual((await store.listRouters(NOW + 15)).map((router) => router.name), ['r2']);
      }));
  });
}

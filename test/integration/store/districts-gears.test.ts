import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, ExhaustedError, InputError, NotFoundError } from '../../../src/core/errors.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, assertRejectsWith, placeGear, seedPlatform } from './store-fixtures.ts';

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: districts, UIDs, gears`, { skip: storeSkipReason(dialect) }, () => {
    it('creates a district with its whole UID pool free, found by id and by name', () =>
      withStore(dialect, async (store) => {
        const district = await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 6000, now: NOW });
        const expected = { id: district.id, name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 6000, availableUids: 6000, createdAt: NOW };
        assert.deepEqual(district, expected);
        assert.deepEqual(await store.getDistrict(district.id), expected);
        assert.deepEqual(await store.getDistrictByName('small-1'), expected);
        assert.equal(await store.getDistrict('nope'), undefined);
        assert.equal(await store.getDistrictByName('nope'), undefined);
      }));

    it('refuses a duplicate district name and nonsense capacity', () =>
      withStore(dialect, async (store) => {
        await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 10, now: NOW });
        await assertRejectsWith(store.createDistrict({ name: 'small-1', gearProfile: 'medium', firstUid: 1000, maxCapacity: 10, now: NOW }), ConflictError, 'district_exists', {
          field: 'name',
        });
        await assertRejectsWith(store.createDistrict({ name: 'zero', gearProfile: 'small', firstUid: 1000, maxCapacity: 0, now: NOW }), InputError, 'invalid_input', { field: 'maxCapacity' });
        // Neither refusal left anything behind: the clash did not add a second pool of UIDs.
        assert.deepEqual((await store.listDistricts()).map((d) => [d.name, d.availableUids]), [['small-1', 10]]);
      }));

    it('lists districts with their free UIDs counted per district', () =>
      withStore(dialect, async (store) => {
        const b = await store.createDistrict({ name: 'b', gearProfile: 'small', firstUid: 1000, maxCapacity: 5, now: NOW });
        const a = await store.createDistrict({ name: 'a', gearProfile: 'medium', firstUid: 2000, maxCapacity: 3, now: NOW });
        const c = await store.createDistrict({ name: 'c', gearProfile: 'small', firstUid: 1000, maxCapacity: 1, now: NOW });
        await store.allocateUid(b.id);
        await store.allocateUid(b.id);
        await store.allocateUid(c.id);
        assert.deepEqual(
          (await store.listDistricts()).map((d) => [d.name, d.maxCapacity, d.availableUids]),
          [
            ['a', 3, 3],
            ['b', 5, 3],
            ['c', 1, 0],
          ],
        );
        assert.equal((await store.getDistrict(a.id))?.availableUids, 3);
        assert.equal((await store.getDistrict(c.id))?.availableUids, 0, 'a full district reports 0, not missing');
      }));

    it('allocates the lowest free UID, then says the district is exhausted', () =>
      withStore(dialect, async (store) => {
        const district = await store.createDistrict({ name: 'tiny', gearProfile: 'small', firstUid: 5000, maxCapacity: 3, now: NOW });
        const other = await store.createDistrict({ name: 'other', gearProfile: 'small', firstUid: 5000, maxCapacity: 3, now: NOW });
        assert.equal(await store.allocateUid(district.id), 5000);
        assert.equal(await store.allocateUid(district.id), 5001);
        assert.equal(await store.allocateUid(other.id), 5000, 'pools are per district');
        assert.equal(await store.allocateUid(district.id), 5002);
        const error = await assertRejectsWith(store.allocateUid(district.id), ExhaustedError, 'district_uids_exhausted', { district: 'tiny' });
        assert.match(error.message, /district 'tiny' has no UIDs left/);
        await assertRejectsWith(store.allocateUid('no-such-district'), NotFoundError, 'district_not_found');
      }));

    it('creates gears with 32-hex ids and reads them back by id, app and node', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const gear = await placeGear(store, platform);
        assert.match(gear.id, /^[0-9a-f]{32}$/);
        assert.deepEqual(gear, {
          id: gear.id,
          appId: platform.app.id,
          nodeId: platform.node.id,
          districtId: platform.district.id,
          uid: 1000,
          desiredState: 'started',
          observedState: 'new',
          endpoint: null,
          createdAt: NOW,
          updatedAt: NOW,
        });
        assert.deepEqual(await store.getGear(gear.id), gear);
        assert.equal(await store.getGear('0'.repeat(32)), undefined);

        const second = await placeGear(store, platform);
        const node2 = await store.upsertNodeRegistration({ name: 'node-2', gearProfile: 'small', maxActiveGears: 5, endpoint: null, scaleEventId: null, credentialHash: 'c2', now: NOW });
        const elsewhere = await placeGear(store, { ...platform, node: node2 });
        assert.deepEqual((await store.listGears({ appId: platform.app.id })).map((g) => g.id).sort(), [gear.id, second.id, elsewhere.id].sort());
        assert.deepEqual((await store.listGears({ nodeId: node2.id })).map((g) => g.id), [elsewhere.id]);
        assert.equal((await store.listGears()).length, 3);
        assert.deepEqual(await store.listGears({ appId: platform.app.id, nodeId: 'none' }), []);
      }));

    it('refuses a gear whose UID another gear of the district holds, or whose app is gone', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const gear = await placeGear(store, platform);
        const input = { appId: platform.app.id, nodeId: platform.node.id, districtId: platform.district.id, uid: gear.uid, desiredState: 'started' as const, now: NOW };
        await assertRejectsWith(store.createGear(input), ConflictError, 'uid_in_use', { field: 'uid' });
        await assertRejectsWith(store.createGear({ ...input, uid: 4242, appId: 'gone' }), ConflictError, 'gear_reference_missing');
      }));

    it('deletes a gear and gives its UID back', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store, { uidCapacity: 2 });
        const first = await placeGear(store, platform);
        await placeGear(store, platform);
        await assertRejectsWith(store.allocateUid(platform.district.id), ExhaustedError, 'district_uids_exhausted');

        await store.deleteGear(first.id);
        assert.equal(await store.getGear(first.id), undefined);
        assert.equal((await store.getDistrict(platform.district.id))?.availableUids, 1);
        assert.equal(await store.allocateUid(platform.district.id), first.uid);
        await assertRejectsWith(store.deleteGear(first.id), NotFoundError, 'gear_not_found');
      }));

    it('records what a node agent observed, only from the node the gear is on', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const gear = await placeGear(store, platform);
        assert.equal(await store.reportGear({ gearId: gear.id, nodeId: platform.node.id, observedState: 'started', endpoint: '127.0.0.1:35001', now: NOW + 5 }), true);
        assert.equal(await store.reportGear({ gearId: gear.id, nodeId: 'old-node', observedState: 'stopped', endpoint: null, now: NOW + 6 }), false);
        assert.equal(await store.reportGear({ gearId: 'gone', nodeId: platform.node.id, observedState: 'stopped', endpoint: null, now: NOW + 6 }), false);
        const reported = await store.getGear(gear.id);
        assert.equal(reported?.observedState, 'started');
        assert.equal(reported?.endpoint, '127.0.0.1:35001');
        assert.equal(reported?.updatedAt, NOW + 5);
        assert.equal(reported?.createdAt, NOW);
      }));

    it('adds capacity after the end of the pool', () =>
      withStore(dialect, async (store) => {
        const district = await store.createDistrict({ name: 'd', gearProfile: 'small', firstUid: 1000, maxCapacity: 2, now: NOW });
        await store.allocateUid(district.id);
        await store.allocateUid(district.id);
        const grown = await store.addDistrictCapacity(district.id, 3);
        assert.equal(grown.maxCapacity, 5);
        assert.equal(grown.availableUids, 3);
        assert.deepEqual([await store.allocateUid(district.id), await store.allocateUid(district.id), await store.allocateUid(district.id)], [1002, 1003, 1004]);
        await assertRejectsWith(store.allocateUid(district.id), ExhaustedError, 'district_uids_exhausted');
        await assertRejectsWith(store.addDistrictCapacity(district.id, 0), InputError, 'invalid_input', { field: 'count' });
        await assertRejectsWith(store.addDistrictCapacity('nope', 1), NotFoundError, 'district_not_found');
      }));

    it('removes free UIDs from the end of the pool', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store, { uidCapacity: 10 });
        await placeGear(store, platform); // holds 1000
        const shrunk = await store.removeDistrictCapacity(platform.district.id, 4);
        assert.equal(shrunk.maxCapacity, 6);
        assert.equal(shrunk.availableUids, 5);
        // The pool is now 1000…1005: the sixth allocation after 1000 runs out at 1005.
        const uids = [];
        for (let i = 0; i < 5; i++) uids.push(await store.allocateUid(platform.district.id));
        assert.deepEqual(uids, [1001, 1002, 1003, 1004, 1005]);
        await assertRejectsWith(store.allocateUid(platform.district.id), ExhaustedError, 'district_uids_exhausted');
      }));

    it('refuses to remove capacity when a UID at the end is in use, and changes nothing', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store, { uidCapacity: 4 });
        const gears = [];
        for (let i = 0; i < 3; i++) gears.push(await placeGear(store, platform)); // 1000, 1001, 1002 used; 1003 free
        await store.deleteGear(gears[0]!.id); // 1000 free again, but it is at the start, not the end

        await assertRejectsWith(store.removeDistrictCapacity(platform.district.id, 2), ConflictError, 'capacity_in_use', { district: 'small-1' });
        await assertRejectsWith(store.removeDistrictCapacity(platform.district.id, 5), ConflictError, 'capacity_in_use');
        const unchanged = await store.getDistrict(platform.district.id);
        assert.equal(unchanged?.maxCapacity, 4);
        assert.equal(unchanged?.availableUids, 2);

        const shrunk = await store.removeDistrictCapacity(platform.district.id, 1);
        assert.equal(shrunk.maxCapacity, 3);
        assert.equal(shrunk.availableUids, 1);
        assert.equal(await store.allocateUid(platform.district.id), 1000);
        await assertRejectsWith(store.allocateUid(platform.district.id), ExhaustedError, 'district_uids_exhausted');
      }));

    it('deletes a district only when no node and no gear is in it', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const gear = await placeGear(store, platform);
        await assertRejectsWith(store.deleteDistrict(platform.district.id), ConflictError, 'district_has_nodes');
        await store.setNodeDistrict(platform.node.id, null);
        await assertRejectsWith(store.deleteDistrict(platform.district.id), ConflictError, 'district_has_gears');
        await store.deleteGear(gear.id);
        await store.deleteDistrict(platform.district.id);
        assert.equal(await store.getDistrict(platform.district.id), undefined);
        assert.deepEqual(await store.listDistricts(), []);
        await assertRejectsWith(store.deleteDistrict(platform.district.id), NotFoundError, 'district_not_found');
        // Its free UIDs went with it: a new district of the same name starts a full pool.
        const again = await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 100, now: NOW });
        assert.equal(again.availableUids, 100);
      }));
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assertApiError, withBroker, type BrokerHarness, type HarnessUser } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

/** What a refused placement must leave as it was. */
async function observable(h: BrokerHarness, user: HarnessUser) {
  const districts = (await h.ok('GET', '/districts', { token: h.admin.token })).items;
  return {
    apps: (await h.ok('GET', '/apps', { token: h.admin.token })).items.map((app: { domain: string; name: string; gears: unknown[] }) => `${app.domain}/${app.name}:${app.gears.length}`),
    uids: districts.map((district: { name: string; availableUids: number }) => `${district.name}:${district.availableUids}`),
    gearsUsed: (await h.ok('GET', '/user', { token: user.token })).gearsUsed,
    placed: (await h.ok('GET', '/nodes', { token: h.admin.token })).items.map((node: { name: string; placedActiveGears: number }) => `${node.name}:${node.placedActiveGears}`),
  };
}

async function bobWithDomain(h: BrokerHarness, maxGears?: number): Promise<HarnessUser> {
  const bob = await h.createUser('bob', maxGears === undefined ? {} : { maxGears });
  await h.createDomain(bob, 'bobs');
  return bob;
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: placement`, { skip: storeSkipReason(dialect) }, () => {
    it('no node of the profile: 409 no_capacity naming the profile, and no app left behind', () =>
      withBroker(dialect, async (h) => {
        const bob = await bobWithDomain(h);
        await h.createDistrict('east');
        await h.registerNodes(1, { district: 'east' });
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'first', cartridge: 'nodejs' }, status: 201 });
        const before = await observable(h, bob);

        const refused = await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'big', cartridge: 'nodejs', gearProfile: 'medium' } });
        assertApiError(refused, { status: 409, code: 'no_capacity' });
        assert.match(refused.json.error.message, /profile 'medium'/);
        assertApiError(await h.call('GET', '/domains/bobs/apps/big', { token: bob.token }), { status: 404, code: 'app_not_found' });
        assert.deepEqual(await observable(h, bob), before);
        assert.deepEqual((await h.ok('GET', '/events?kind=app.created', { token: bob.token })).items.length, 1, 'no app.created for the refused app');

        // The name is still free: once there is room, the same request succeeds.
        await h.createDistrict('big', { gearProfile: 'medium' });
        await h.registerNodes(1, { district: 'big', gearProfile: 'medium', prefix: 'med' });
        const placed = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'big', cartridge: 'nodejs', gearProfile: 'medium' }, status: 201 });
        assert.equal(placed.gears[0].node, 'med2');
        assert.equal(placed.gears[0].district, 'big');
      }));

    it('no node at all: the first app is refused with the profile named', () =>
      withBroker(dialect, async (h) => {
        const bob = await bobWithDomain(h);
        const refused = await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' } });
        assertApiError(refused, { status: 409, code: 'no_capacity' });
        assert.match(refused.json.error.message, /profile 'small'/);
        assert.deepEqual((await h.ok('GET', '/apps', { token: bob.token })).items, []);
      }));

    it('nodes full: a multi-gear app that does not fit entirely is not created at all', () =>
      withBroker(dialect, async (h) => {
        const bob = await bobWithDomain(h);
        await h.createDistrict('east');
        await h.registerNodes(2, { district: 'east', maxActiveGears: 2 });
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'first', cartridge: 'nodejs', gears: 3 }, status: 201 });
        const before = await observable(h, bob);
        const refused = await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'second', cartridge: 'nodejs', gears: 2 } });
        assertApiError(refused, { status: 409, code: 'no_capacity' });
        assert.match(refused.json.error.message, /full/);
        assert.deepEqual(await observable(h, bob), before);
        // Scaling past the room is refused the same way and leaves the app as it was.
        assertApiError(await h.call('POST', '/domains/bobs/apps/first/scale', { token: bob.token, body: { gears: 5 } }), { status: 409, code: 'no_capacity' });
        assert.deepEqual(await observable(h, bob), before);
        assert.deepEqual((await h.ok('GET', '/domains/bobs/apps/first', { token: bob.token })).scale, { min: 3, max: 3 });
      }));

    it("a district's UIDs run out: 409 and nothing created", () =>
      withBroker(dialect, async (h) => {
        const bob = await bobWithDomain(h);
        await h.createDistrict('tiny', { maxCapacity: 2 });
        await h.registerNodes(2, { district: 'tiny' });
        const before = await observable(h, bob);
        const refused = await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 3 } });
        assert.equal(refused.status, 409, refused.text);
        assertApiError(refused, { status: 409 });
        assert.match(refused.json.error.message, /UID/i);
        assert.deepEqual(await observable(h, bob), before);
        assert.deepEqual(before.uids, ['tiny:2']);
        // Two gears fit exactly.
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
        assert.deepEqual((await observable(h, bob)).uids, ['tiny:0']);
      }));

    it("the user's max_gears limit: 409 gear_limit_reached naming the field, nothing created", () =>
      withBroker(dialect, async (h) => {
        const bob = await bobWithDomain(h, 3);
        await h.createDistrict('east');
        await h.registerNodes(2, { district: 'east' });
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
        const before = await observable(h, bob);

        assertApiError(await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'api', cartridge: 'nodejs', gears: 2 } }), { status: 409, code: 'gear_limit_reached', field: 'gears' });
        assertApiError(await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'api', cartridge: 'nodejs', scale: { min: 2, max: 4 } } }), { status: 409, code: 'gear_limit_reached', field: 'scale.min' });
        assertApiError(await h.call('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { gears: 4 } }), { status: 409, code: 'gear_limit_reached', field: 'gears' });
        assertApiError(await h.call('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { min: 4, max: 5 } }), { status: 409, code: 'gear_limit_reached', field: 'min' });
        assert.deepEqual(await observable(h, bob), before);
        assert.deepEqual((await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token })).scale, { min: 2, max: 2 }, 'a refused scale keeps the old range');

        // Exactly up to the limit is fine.
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'api', cartridge: 'nodejs' }, status: 201 });
        assert.equal((await h.ok('GET', '/user', { token: bob.token })).gearsUsed, 3);
      }));

    it("spreads an app's gears over distinct nodes, across districts of the profile", () =>
      withBroker(dialect, async (h) => {
        const bob = await bobWithDomain(h);
        await h.createDistrict('east');
        await h.createDistrict('west');
        await h.registerNodes(2, { district: 'east' });
        await h.registerNodes(2, { district: 'west' });
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 4 }, status: 201 });
        assert.deepEqual(app.gears.map((gear: { node: string }) => gear.node).sort(), ['node1', 'node2', 'node3', 'node4']);
        for (const gear of app.gears) assert.equal(gear.district, ['node1', 'node2'].includes(gear.node) ? 'east' : 'west');
        // A UID is unique within its district.
        const east = app.gears.filter((gear: { district: string }) => gear.district === 'east').map((gear: { uid: number }) => gear.uid);
        assert.equal(new Set(east).size, east.length);
      }));

    it('a gear keeps its UID over stop, start, restart and scaling of its app', () =>
      withBroker(dialect, async (h) => {
        const bob = await bobWithDomain(h);
        await h.createDistrict('east');
        await h.registerNodes(2, { district: 'east' });
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
        const uids = new Map(app.gears.map((gear: { id: string; uid: number; node: string }) => [gear.id, `${gear.uid}@${gear.node}`]));
        await h.ok('POST', '/domains/bobs/apps/web/stop', { token: bob.token });
        await h.ok('POST', '/domains/bobs/apps/web/start', { token: bob.token });
        await h.ok('POST', '/domains/bobs/apps/web/restart', { token: bob.token });
        const scaled = await h.ok('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { gears: 4 } });
        for (const gear of scaled.gears) if (uids.has(gear.id)) assert.equal(`${gear.uid}@${gear.node}`, uids.get(gear.id));
        assert.equal(scaled.gears.filter((gear: { id: string }) => uids.has(gear.id)).length, 2);
        assert.equal(new Set(scaled.gears.map((gear: { uid: number }) => gear.uid)).size, 4, 'new gears took fresh UIDs');
      }));
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assertApiError, withBroker, type BrokerHarness, type HarnessUser } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const APP_KEYS = ['cartridge', 'createdAt', 'desiredState', 'domain', 'gearProfile', 'gears', 'id', 'name', 'restartGeneration', 'scale', 'source', 'url'];
const GEAR_KEYS = ['createdAt', 'desiredState', 'district', 'endpoint', 'id', 'node', 'observedState', 'uid'];

/** bob with domain `bobs`, district `east` (small) with `nodes` nodes of 10 active gears each. */
async function platform(h: BrokerHarness, nodes = 3): Promise<HarnessUser> {
  const bob = await h.createUser('bob');
  await h.createDomain(bob, 'bobs');
  await h.createDistrict('east');
  await h.registerNodes(nodes, { district: 'east' });
  return bob;
}

function nodesOf(app: { gears: { node: string }[] }): Map<string, number> {
  const counts = new Map<string, number>();
  for (const gear of app.gears) counts.set(gear.node, (counts.get(gear.node) ?? 0) + 1);
  return counts;
}

async function availableUids(h: BrokerHarness, district = 'east'): Promise<number> {
  return (await h.ok('GET', `/districts/${district}`, { token: h.admin.token })).availableUids;
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: domains and apps`, { skip: storeSkipReason(dialect) }, () => {
    it('creates, lists, shows and deletes domains; a user lists its own, an admin all', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob');
        const carol = await h.createUser('carol');
        const created = await h.ok('POST', '/domains', { token: bob.token, body: { name: 'bobs' }, status: 201 });
        assert.deepEqual(Object.keys(created).sort(), ['createdAt', 'id', 'name', 'owner']);
        assert.equal(created.name, 'bobs');
        assert.equal(created.owner, 'bob');
        await h.createDomain(carol, 'carols');

        assert.deepEqual((await h.ok('GET', '/domains', { token: bob.token })).items, [created]);
        const all = await h.ok('GET', '/domains', { token: h.admin.token });
        assert.deepEqual(all.items.map((domain: { name: string; owner: string }) => `${domain.name}:${domain.owner}`).sort(), ['bobs:bob', 'carols:carol']);

        assert.deepEqual(await h.ok('GET', '/domains/bobs', { token: bob.token }), created);
        assert.equal((await h.ok('GET', '/domains/bobs', { token: h.admin.token })).owner, 'bob', 'admin sees the real owner');

        assert.equal((await h.call('DELETE', '/domains/bobs', { token: bob.token })).status, 204);
        assertApiError(await h.call('GET', '/domains/bobs', { token: bob.token }), { status: 404, code: 'domain_not_found', field: 'domain' });
        assert.deepEqual((await h.ok('GET', '/domains', { token: bob.token })).items, []);
        // The name is free again.
        await h.createDomain(carol, 'bobs');
      }));

    it('refuses to delete a domain that has apps (409 domain_has_apps) and keeps it', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h, 1);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
        assertApiError(await h.call('DELETE', '/domains/bobs', { token: bob.token }), { status: 409, code: 'domain_has_apps' });
        assert.equal((await h.ok('GET', '/domains/bobs/apps', { token: bob.token })).items.length, 1);
        assert.equal((await h.call('DELETE', '/domains/bobs/apps/web', { token: bob.token })).status, 204);
        assert.equal((await h.call('DELETE', '/domains/bobs', { token: bob.token })).status, 204);
      }));

    it('creates an app with a fixed gear count: URL, profile, gears with UIDs from the district', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h);
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
        assert.deepEqual(Object.keys(app).sort(), APP_KEYS);
        assert.equal(app.name, 'web');
        assert.equal(app.domain, 'bobs');
        assert.equal(app.url, 'http://web-bobs.localhost/');
        assert.equal(app.cartridge, 'nodejs');
        assert.equal(app.gearProfile, 'small');
        assert.deepEqual(app.scale, { min: 2, max: 2 });
        assert.equal(app.desiredState, 'started');
        assert.equal(app.restartGeneration, 0);
        assert.equal(app.gears.length, 2);
        for (const gear of app.gears) {
          assert.deepEqual(Object.keys(gear).sort(), GEAR_KEYS);
          assert.equal(gear.district, 'east');
          assert.equal(gear.desiredState, 'started');
          assert.equal(gear.observedState, 'new');
          assert.equal(gear.endpoint, null);
        }
        assert.deepEqual(app.gears.map((gear: { uid: number }) => gear.uid).sort(), [1000, 1001]);
        assert.equal(await availableUids(h), 6000 - 2);
      }));

    it('creates an app with a scale range: starts at its minimum', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h);
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'api', cartridge: 'static', scale: { min: 2, max: 5 } }, status: 201 });
        assert.deepEqual(app.scale, { min: 2, max: 5 });
        assert.equal(app.gears.length, 2);
        assert.equal(app.cartridge, 'static');
        const single = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'one', cartridge: 'nodejs' }, status: 201 });
        assert.deepEqual(single.scale, { min: 1, max: 1 });
        assert.equal(single.gears.length, 1);
      }));

    it('puts the router port in app URLs unless it is 80', () =>
      withBroker(
        dialect,
        async (h) => {
          const bob = await platform(h, 1);
          const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
          assert.equal(app.url, 'http://web-bobs.apps.example.com:8080/');
        },
        { env: { ROUTER_PUBLIC_PORT: '8080', CLOUD_DOMAIN: 'apps.example.com' } },
      ));

    it('lists apps per domain and over all domains; users see their own, admins every app', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h);
        const carol = await h.createUser('carol');
        await h.createDomain(bob, 'bobsdev');
        await h.createDomain(carol, 'carols');
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
        await h.ok('POST', '/domains/bobsdev/apps', { token: bob.token, body: { name: 'web', cartridge: 'static', gears: 2 }, status: 201 });
        await h.ok('POST', '/domains/carols/apps', { token: carol.token, body: { name: 'shop', cartridge: 'nodejs' }, status: 201 });

        const bobs = await h.ok('GET', '/domains/bobs/apps', { token: bob.token });
        assert.deepEqual(bobs.items.map((app: { name: string; domain: string }) => `${app.domain}/${app.name}`), ['bobs/web']);
        assert.deepEqual(Object.keys(bobs.items[0]).sort(), APP_KEYS);

        const mine = await h.ok('GET', '/apps', { token: bob.token });
        assert.deepEqual(mine.items.map((app: { name: string; domain: string }) => `${app.domain}/${app.name}`).sort(), ['bobs/web', 'bobsdev/web']);
        assert.equal(mine.items.find((app: { domain: string }) => app.domain === 'bobsdev').gears.length, 2);
        const all = await h.ok('GET', '/apps', { token: h.admin.token });
        assert.deepEqual(all.items.map((app: { name: string; domain: string }) => `${app.domain}/${app.name}`).sort(), ['bobs/web', 'bobsdev/web', 'carols/shop']);
        assert.deepEqual((await h.ok('GET', '/apps', { token: carol.token })).items.map((app: { name: string }) => app.name), ['shop']);
      }));

    it('shows an app with its gears; the admin sees it too', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h);
        const created = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
        // With the harness's frozen clock the gears share a createdAt, so compare them by id.
        const byId = (app: { gears: { id: string }[] }) => ({ ...app, gears: [...app.gears].sort((a, b) => a.id.localeCompare(b.id)) });
        const shown = await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token });
        assert.deepEqual(byId(shown), byId(created));
        assert.deepEqual(byId(await h.ok('GET', '/domains/bobs/apps/web', { token: h.admin.token })), byId(created));
        assertApiError(await h.call('GET', '/domains/bobs/apps/nope', { token: bob.token }), { status: 404, code: 'app_not_found', field: 'app' });
      }));

    it('stops and starts an app: the app\'s desired state follows', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 3 }, status: 201 });
        const stopped = await h.ok('POST', '/domains/bobs/apps/web/stop', { token: bob.token });
        assert.equal(stopped.desiredState, 'stopped');
        assert.equal((await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token })).desiredState, 'stopped');
        const started = await h.ok('POST', '/domains/bobs/apps/web/start', { token: bob.token });
        assert.equal(started.desiredState, 'started');
        assert.equal((await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token })).desiredState, 'started');
      }));

    it(
      'stops and starts an app: its gears and the nodes\' placed load follow',
      () =>
        withBroker(dialect, async (h) => {
          const bob = await platform(h);
          await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 3 }, status: 201 });
          const stopped = await h.ok('POST', '/domains/bobs/apps/web/stop', { token: bob.token });
          assert.deepEqual(stopped.gears.map((gear: { desiredState: string }) => gear.desiredState), ['stopped', 'stopped', 'stopped']);
          const nodeGears = await h.ok('GET', '/nodes/node1/gears', { token: h.admin.token });
          assert.deepEqual(nodeGears.items.map((gear: { desiredState: string }) => gear.desiredState), ['stopped'], 'the node agent is told to stop');
          // Stopped gears are not active: they no longer count as placed load on the nodes.
          const nodes = await h.ok('GET', '/nodes', { token: h.admin.token });
          assert.deepEqual(nodes.items.map((node: { placedActiveGears: number }) => node.placedActiveGears), [0, 0, 0]);

          const started = await h.ok('POST', '/domains/bobs/apps/web/start', { token: bob.token });
          assert.deepEqual(started.gears.map((gear: { desiredState: string }) => gear.desiredState), ['started', 'started', 'started']);
          const after = await h.ok('GET', '/nodes', { token: h.admin.token });
          assert.equal(after.items.reduce((sum: number, node: { placedActiveGears: number }) => sum + node.placedActiveGears, 0), 3);
        }),
    );

    it('restart bumps restartGeneration; restarting a stopped app is refused (409) and changes nothing', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h, 1);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
        assert.equal((await h.ok('POST', '/domains/bobs/apps/web/restart', { token: bob.token })).restartGeneration, 1);
        assert.equal((await h.ok('POST', '/domains/bobs/apps/web/restart', { token: bob.token })).restartGeneration, 2);
        const nodeGears = await h.ok('GET', '/nodes/node1/gears', { token: h.admin.token });
        assert.equal(nodeGears.items[0].restartGeneration, 2, 'the node agent sees the new generation');

        await h.ok('POST', '/domains/bobs/apps/web/stop', { token: bob.token });
        assertApiError(await h.call('POST', '/domains/bobs/apps/web/restart', { token: bob.token }), { status: 409, code: 'app_stopped', field: 'app' });
        const app = await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token });
        assert.equal(app.restartGeneration, 2);
        assert.equal(app.desiredState, 'stopped');
      }));

    it('scales up over distinct nodes and down from the node holding most', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h, 3);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
        const three = await h.ok('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { gears: 3 } });
        assert.deepEqual(three.scale, { min: 3, max: 3 });
        assert.equal(three.gears.length, 3);
        assert.deepEqual([...nodesOf(three).values()], [1, 1, 1], 'one gear per node');

        const five = await h.ok('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { gears: 5 } });
        assert.deepEqual([...nodesOf(five).values()].sort(), [1, 2, 2]);
        const uidsBefore = new Map(five.gears.map((gear: { id: string; uid: number }) => [gear.id, gear.uid]));

        const four = await h.ok('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { gears: 4 } });
        assert.equal(four.gears.length, 4);
        assert.deepEqual([...nodesOf(four).values()].sort(), [1, 1, 2], 'the gear came off a node holding two');
        // The gears that stay keep their UIDs.
        for (const gear of four.gears) assert.equal(uidsBefore.get(gear.id), gear.uid);
        assert.equal(await availableUids(h), 6000 - 4);
      }));

    it('scaling a range keeps the gear count inside it', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h, 3);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 3 } , status: 201 });
        const lowered = await h.ok('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { min: 1, max: 2 } });
        assert.deepEqual(lowered.scale, { min: 1, max: 2 });
        assert.equal(lowered.gears.length, 2, 'above the new max: cut to max');
        const widened = await h.ok('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { max: 6 } });
        assert.deepEqual(widened.scale, { min: 1, max: 6 });
        assert.equal(widened.gears.length, 2, 'inside the range: unchanged');
        const raised = await h.ok('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { min: 4 } });
        assert.deepEqual(raised.scale, { min: 4, max: 6 });
        assert.equal(raised.gears.length, 4, 'below the new min: raised to min');
        assertApiError(await h.call('POST', '/domains/bobs/apps/web/scale', { token: bob.token, body: { max: 3 } }), { status: 400, field: 'max' });
        assert.deepEqual((await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token })).scale, { min: 4, max: 6 });
      }));

    it('deletes an app: its gears go and their UIDs return to the district', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h, 2);
        const before = await availableUids(h);
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 4 }, status: 201 });
        assert.equal(await availableUids(h), before - 4);
        assert.equal((await h.call('DELETE', '/domains/bobs/apps/web', { token: bob.token })).status, 204);
        assert.equal(await availableUids(h), before);
        assertApiError(await h.call('GET', '/domains/bobs/apps/web', { token: bob.token }), { status: 404, code: 'app_not_found' });
        assertApiError(await h.call('GET', `/gears/${app.gears[0].id}`, { token: bob.token }), { status: 404, code: 'gear_not_found' });
        assert.equal((await h.ok('GET', '/user', { token: bob.token })).gearsUsed, 0);
        // The freed UIDs are handed out again.
        const again = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 1 }, status: 201 });
        assert.equal(again.gears[0].uid, 1000);
      }));

    it('shows a gear with its app and domain, to its owner and the admin only', () =>
      withBroker(dialect, async (h) => {
        const bob = await platform(h, 1);
        const carol = await h.createUser('carol');
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
        const gear = await h.ok('GET', `/gears/${app.gears[0].id}`, { token: bob.token });
        assert.deepEqual(gear, { ...app.gears[0], app: 'web', domain: 'bobs' });
        assert.deepEqual(await h.ok('GET', `/gears/${app.gears[0].id}`, { token: h.admin.token }), gear);
        assertApiError(await h.call('GET', `/gears/${app.gears[0].id}`, { token: carol.token }), { status: 404, code: 'gear_not_found', field: 'id' });
        assertApiError(await h.call('GET', '/gears/no-such-gear', { token: bob.token }), { status: 404, code: 'gear_not_found' });
      }));
  });
}

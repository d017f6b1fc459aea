// The broker's side of gear moves and drains (docs/moves.md), over the REST API, on both
// store backends. Node agents are played by the test through their own REST calls (the agent
// side has its own tests with real processes); the mover is stepped with passOnce() and the
// harness clock, so every phase can be looked at.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assertApiError, startBrokerHarness, withBroker, type BrokerHarness, type HarnessNode } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const ROUTER_TOKEN = 'router-secret-for-the-moves-test';

async function platform(h: BrokerHarness, nodes = 2, maxActiveGears = 10) {
  await h.createDistrict('east');
  const registered = await h.registerNodes(nodes, { district: 'east', maxActiveGears, withEndpoint: true });
  const bob = await h.createUser('bob', { maxGears: 100 });
  await h.createDomain(bob, 'bobs');
  return { nodes: registered, bob };
}

/** Steps the mover until nothing moves on (the harness clock does not advance by itself). */
async function settle(h: BrokerHarness): Promise<void> {
  for (let pass = 0; pass < 50 && (await h.broker.mover.passOnce()); pass++);
}

async function desired(h: BrokerHarness, node: HarnessNode) {
  return (await h.ok('GET', `/nodes/${node.name}/gears`, { token: node.credential })).items as { id: string; uid: number; move?: { id: string; role: string; phase: string; source?: string; token?: string } }[];
}

/** Plays the target agent: reports every incoming copy started, at an endpoint of its own. */
async function reportIncomingStarted(h: BrokerHarness, node: HarnessNode, pauseMs = 7): Promise<number> {
  let reported = 0;
  for (const gear of await desired(h, node)) {
    if (gear.move?.role !== 'target' || gear.move.phase !== 'copying') continue;
    await h.ok('PUT', `/nodes/${node.name}/moves/${gear.move.id}`, { token: node.credential, body: { state: 'started', endpoint: `127.0.0.1:${20000 + reported}`, pauseMs }, status: 204 });
    reported++;
  }
  return reported;
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: gear moves`, { skip: storeSkipReason(dialect) }, () => {
    it('moves a gear through every phase: copy on the target first, both routed, target only, then the source releases it', () =>
      withBroker(
        dialect,
        async (h) => {
          const { nodes, bob } = await platform(h);
          const [one, two] = nodes as [HarnessNode, HarnessNode];
          const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 1 }, status: 201 });
          const gear = app.gears[0];
          const [source, target] = gear.node === one.name ? [one, two] : [two, one];
          await h.ok('PUT', `/nodes/${source.name}/gears/${gear.id}`, { token: source.credential, body: { observedState: 'started', endpoint: '127.0.0.1:10001' }, status: 204 });

          const started = await h.ok('POST', '/moves', { token: h.admin.token, body: { gears: [gear.id] }, status: 202 });
          const move = started.items[0];
          assert.deepEqual({ from: move.from, to: move.to, phase: move.phase, status: move.status, app: move.app, domain: move.domain }, { from: source.name, to: target.name, phase: 'planned', status: 'running', app: 'web', domain: 'bobs' });
          assert.deepEqual(await desired(h, target), [], 'nothing shown to the target before the copy phase is written');
          assertApiError(await h.call('POST', '/moves', { token: h.admin.token, body: { gears: [gear.id] } }), { status: 409, code: 'gear_moving' });

          await settle(h);
          const incoming = (await desired(h, target))[0]!;
          assert.equal(incoming.id, gear.id);
          assert.equal(incoming.uid, gear.uid, 'the same UID inside the district');
          assert.equal(incoming.move?.role, 'target');
          assert.equal(incoming.move?.phase, 'copying');
          assert.equal(incoming.move?.source, `http://127.0.0.1:9/${source.name}`);
          assert.match(incoming.move?.token ?? '', /^[A-Za-z0-9_-]{20,}$/);
          assert.deepEqual((await desired(h, source))[0]!.move, { id: move.id, role: 'source', phase: 'copying' });

          // The source checks the token the target presents to it; nobody else can use it.
          assert.deepEqual(await h.ok('POST', `/nodes/${source.name}/moves/verify`, { token: source.credential, body: { moveId: move.id, token: incoming.move!.token } }), { gearId: gear.id });
          assertApiError(await h.call('POST', `/nodes/${source.name}/moves/verify`, { token: source.credential, body: { moveId: move.id, token: 'wrong' } }), { status: 403 });
          assertApiError(await h.call('POST', `/nodes/${target.name}/moves/verify`, { token: target.credential, body: { moveId: move.id, token: incoming.move!.token } }), { status: 403 });
          assertApiError(await h.call('PUT', `/nodes/${source.name}/moves/${move.id}`, { token: source.credential, body: { state: 'started', endpoint: '127.0.0.1:1' } }), { status: 404 });

          // Routers hold the source until the target is routed too.
          const routes = async () => (await h.ok('GET', '/routes', { token: ROUTER_TOKEN })).items[0].endpoints;
          assert.deepEqual(await routes(), ['127.0.0.1:10001']);
          await reportIncomingStarted(h, target, 42);
          await h.broker.mover.passOnce();
          const switched = await h.ok('GET', `/moves/${move.id}`, { token: h.admin.token });
          assert.equal(switched.phase, 'routed-target', 'no router has polled, so nothing to wait for but the grace');
          assert.deepEqual(await routes(), ['127.0.0.1:20000'], 'only the target once the route switched');
          assert.equal((await h.ok('GET', `/gears/${gear.id}`, { token: h.admin.token })).node, source.name, 'the gear is still the source\'s until the source is released');

          h.advance(1_000);
          await settle(h);
          const done = await h.ok('GET', `/moves/${move.id}`, { token: h.admin.token });
          assert.deepEqual({ phase: done.phase, status: done.status, pauseMs: done.pauseMs }, { phase: 'done', status: 'succeeded', pauseMs: 42 });
          const moved = await h.ok('GET', `/gears/${gear.id}`, { token: h.admin.token });
          assert.deepEqual({ node: moved.node, uid: moved.uid, endpoint: moved.endpoint }, { node: target.name, uid: gear.uid, endpoint: '127.0.0.1:20000' });
          assert.deepEqual(await desired(h, source), [], 'the source agent is told to stop and delete its copy');
          assert.equal((await desired(h, target))[0]!.move, undefined, 'a plain gear of the target now');
          const events = (await h.ok('GET', '/events?kind=gear.moved', { token: h.admin.token })).items;
          assert.match(events[0].message, /paused 42 ms/);
        },
        { env: { ROUTER_TOKEN } },
      ));

    it('rolls back when the target fails its copy, when the copy deadline passes, or when the target node is lost', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h, 2);
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 3 }, status: 201 });
        const onFirst = app.gears.filter((gear: { node: string }) => gear.node === nodes[0]!.name);
        const [failing, slow] = onFirst as { id: string }[];
        assert.ok(failing && slow, 'two gears on node1 (3 gears spread over 2 nodes)');
        const target = nodes[1]!;
        const before = (await h.ok('GET', '/districts/east', { token: h.admin.token })).availableUids;

        const first = (await h.ok('POST', '/moves', { token: h.admin.token, body: { gears: [failing.id] }, status: 202 })).items[0];
        await settle(h);
        await h.ok('PUT', `/nodes/${target.name}/moves/${first.id}`, { token: target.credential, body: { state: 'failed', error: 'health check never passed' }, status: 204 });
        await settle(h);
        const failed = await h.ok('GET', `/moves/${first.id}`, { token: h.admin.token });
        assert.deepEqual({ status: failed.status, phase: failed.phase }, { status: 'rolled-back', phase: 'rolled-back' });
        assert.match(failed.error, /health check never passed/);
        assert.equal((await h.ok('GET', `/gears/${failing.id}`, { token: h.admin.token })).node, nodes[0]!.name, 'still on its source');
        assert.ok(!(await desired(h, target)).some((gear) => gear.id === failing.id), 'withdrawn from the target: its agent deletes the copy');

        const second = (await h.ok('POST', '/moves', { token: h.admin.token, body: { gears: [slow.id] }, status: 202 })).items[0];
        await settle(h);
        h.advance(121_000);
        await settle(h);
        const late = await h.ok('GET', `/moves/${second.id}`, { token: h.admin.token });
        assert.equal(late.status, 'rolled-back');
        assert.match(late.error, /did not start within 120 s/);

        const third = (await h.ok('POST', '/moves', { token: h.admin.token, body: { gears: [slow.id] }, status: 202 })).items[0];
        await settle(h);
        await h.store.setNodeState(target.id, 'lost', 'active');
        await settle(h);
        assert.match((await h.ok('GET', `/moves/${third.id}`, { token: h.admin.token })).error, /target node node2 is lost/);
        assert.equal((await h.ok('GET', '/districts/east', { token: h.admin.token })).availableUids, before, 'no UID leaked by the rollbacks');
        const rolledBack = (await h.ok('GET', '/events?kind=gear.move-failed', { token: h.admin.token })).items;
        assert.equal(rolledBack.length, 3);
      }));

    it('waits for every live router to have the table without the source before releasing it', () =>
      withBroker(
        dialect,
        async (h) => {
          const { nodes, bob } = await platform(h, 2);
          const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 1 }, status: 201 });
          const target = nodes.find((node) => node.name !== app.gears[0].node)!;
          const poll = () => h.ok('GET', '/routes?wait=0', { token: ROUTER_TOKEN, headers: { 'x-geartide-router': 'edge-1' } });
          await poll();
          const move = (await h.ok('POST', '/moves', { token: h.admin.token, body: { gears: [app.gears[0].id] }, status: 202 })).items[0];
          await settle(h);
          await reportIncomingStarted(h, target);
          h.advance(10);
          await settle(h);
          h.advance(5_000);
          await settle(h);
          assert.equal((await h.ok('GET', `/moves/${move.id}`, { token: h.admin.token })).phase, 'routed-target', 'router edge-1 has not fetched the new table');
          await poll();
          h.advance(300);
          await settle(h);
          assert.equal((await h.ok('GET', `/moves/${move.id}`, { token: h.admin.token })).status, 'succeeded');
        },
        { env: { ROUTER_TOKEN } },
      ));

    it('lists the routers following the table (admin), saying which a move waits for', () =>
      withBroker(
        dialect,
        async (h) => {
          const poll = (name: string) => h.ok('GET', '/routes?wait=0', { token: ROUTER_TOKEN, headers: { 'x-geartide-router': name } });
          assert.deepEqual((await h.ok('GET', '/routers', { token: h.admin.token })).items, []);
          await poll('edge-2/41');
          const firstSeen = h.now();
          h.advance(60_000);
          await poll('edge-1/40');
          let routers = (await h.ok('GET', '/routers', { token: h.admin.token })).items;
          assert.deepEqual(routers.map((router: { name: string; countedByMoves: boolean }) => [router.name, router.countedByMoves]), [['edge-1/40', true], ['edge-2/41', true]]);
          assert.equal(routers[1].lastSeenAt, new Date(firstSeen).toISOString());
          // edge-2 stopped asking (a worker that died): after 90 s moves no longer wait for it; after an hour it is not shown.
          h.advance(31_000);
          routers = (await h.ok('GET', '/routers', { token: h.admin.token })).items;
          assert.deepEqual(routers.map((router: { name: string; countedByMoves: boolean }) => [router.name, router.countedByMoves]), [['edge-1/40', true], ['edge-2/41', false]]);
          h.advance(3_600_000);
          await poll('edge-1/40');
          assert.deepEqual((await h.ok('GET', '/routers', { token: h.admin.token })).items.map((router: { name: string }) => router.name), ['edge-1/40']);
          const bob = await h.createUser('bob');
          assertApiError(await h.call('GET', '/routers', { token: bob.token }), { status: 403 });
          assertApiError(await h.call('GET', '/routers', { token: ROUTER_TOKEN }), { status: 403 });
        },
        { env: { ROUTER_TOKEN } },
      ));

    it('names the target with --to, refusing a node of another district or one without room', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h, 3, 1);
        await h.createDistrict('west');
        const [west] = await h.registerNodes(1, { district: 'west', prefix: 'w' });
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
        const full = nodes.find((node) => app.gears.some((gear: { node: string }) => gear.node === node.name) && node.name !== app.gears[0].node)!;
        const free = nodes.find((node) => !app.gears.some((gear: { node: string }) => gear.node === node.name))!;
        assertApiError(await h.call('POST', '/moves', { token: h.admin.token, body: { gears: [app.gears[0].id], to: west!.name } }), { status: 409, code: 'target_unavailable', field: 'to' });
        assertApiError(await h.call('POST', '/moves', { token: h.admin.token, body: { gears: [app.gears[0].id], to: full.name } }), { status: 409, code: 'target_unavailable', field: 'to' });
        assertApiError(await h.call('POST', '/moves', { token: h.admin.token, body: { gears: ['nosuchgear'] } }), { status: 404, field: 'gears' });
        const ok = await h.ok('POST', '/moves', { token: h.admin.token, body: { gears: [app.gears[0].id], to: free.name }, status: 202 });
        assert.equal(ok.items[0].to, free.name);
        assertApiError(await h.call('POST', '/moves', { token: bob.token, body: { gears: [app.gears[1].id] } }), { status: 403 });
      }));

    it('resumes a move where a previous broker left it', async () => {
      const h = await startBrokerHarness(dialect);
      try {
        const { nodes, bob } = await platform(h, 2);
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 1 }, status: 201 });
        const target = nodes.find((node) => node.name !== app.gears[0].node)!;
        const move = (await h.ok('POST', '/moves', { token: h.admin.token, body: { gears: [app.gears[0].id] }, status: 202 })).items[0];
        await settle(h);
        await reportIncomingStarted(h, target);
        // A second broker over the same store, as after a crash: it carries the move to its end.
        const { startBroker } = await import('../../../src/broker/broker.ts');
        let now = h.now() + 60_000;
        const second = await startBroker({ config: h.config, store: h.store, clock: () => now, controllers: false, listen: false });
        try {
          for (let pass = 0; pass < 20; pass++) {
            await second.mover.passOnce();
            now += 1_000;
          }
        } finally {
          await second.close();
        }
        assert.equal((await h.ok('GET', `/moves/${move.id}`, { token: h.admin.token })).status, 'succeeded');
        assert.equal((await h.ok('GET', `/gears/${app.gears[0].id}`, { token: h.admin.token })).node, target.name);
      } finally {
        await h.close();
      }
    });
  });

  describe(`REST API on ${dialect}: node drains`, { skip: storeSkipReason(dialect) }, () => {
    it('drains a node with bounded parallelism: deactivated first, every gear moved in-district, node left empty and deactivated', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h, 3, 20);
        for (const name of ['a', 'b', 'c']) await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name, cartridge: 'nodejs', gears: 3 }, status: 201 });
        const drained = nodes[0]!;
        const onIt = (await h.ok('GET', `/nodes/${drained.name}`, { token: h.admin.token })).placedActiveGears;
        assert.equal(onIt, 3, 'one gear of each app (spread)');

        const drain = await h.ok('POST', `/nodes/${drained.name}/drain`, { token: h.admin.token, body: { parallel: 2 }, status: 202 });
        assert.deepEqual({ status: drain.status, total: drain.total, parallel: drain.parallel }, { status: 'running', total: 3, parallel: 2 });
        assert.match(drain.plan, /move 3 gears/);
        assert.equal((await h.ok('GET', `/nodes/${drained.name}`, { token: h.admin.token })).state, 'draining');
        const placedMeanwhile = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'd', cartridge: 'nodejs', gears: 3 }, status: 201 });
        assert.ok(placedMeanwhile.gears.every((gear: { node: string }) => gear.node !== drained.name), 'no new gear lands on a draining node');

        let maxInFlight = 0;
        for (let round = 0; round < 20; round++) {
          await settle(h);
          const status = await h.ok('GET', `/nodes/${drained.name}/drain`, { token: h.admin.token });
          maxInFlight = Math.max(maxInFlight, status.inFlight);
          if (status.status !== 'running') break;
          for (const node of nodes.slice(1)) await reportIncomingStarted(h, node);
          h.advance(500);
        }
        const end = await h.ok('GET', `/nodes/${drained.name}/drain`, { token: h.admin.token });
        assert.deepEqual({ status: end.status, moved: end.moved, failed: end.failed }, { status: 'succeeded', moved: 3, failed: 0 });
        assert.ok(maxInFlight <= 2, `at most 2 moves at once (saw ${maxInFlight})`);
        const node = await h.ok('GET', `/nodes/${drained.name}`, { token: h.admin.token });
        assert.deepEqual({ state: node.state, placed: node.placedActiveGears }, { state: 'deactivated', placed: 0 });
        const gears = (await h.ok('GET', '/apps', { token: h.admin.token })).items.flatMap((each: { gears: { node: string; district: string }[] }) => each.gears);
        assert.equal(gears.length, 12, 'every gear exactly once');
        assert.ok(gears.every((gear: { node: string; district: string }) => gear.node !== drained.name && gear.district === 'east'));
      }));

    it('refuses a drain whose gears do not fit, saying why, and changes nothing', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h, 2, 2);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'a', cartridge: 'nodejs', gears: 4 }, status: 201 });
        const refused = await h.call('POST', `/nodes/${nodes[0]!.name}/drain`, { token: h.admin.token, body: {} });
        assertApiError(refused, { status: 409, code: 'drain_refused', field: 'name' });
        assert.match(refused.json.error.message, /east/);
        assert.equal((await h.ok('GET', `/nodes/${nodes[0]!.name}`, { token: h.admin.token })).state, 'active');
        assertApiError(await h.call('GET', `/nodes/${nodes[0]!.name}/drain`, { token: h.admin.token }), { status: 404 });
      }));

    it('cancels a drain: the node takes gears again, moves in flight finish', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h, 2, 20);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'a', cartridge: 'nodejs', gears: 4 }, status: 201 });
        await h.ok('POST', `/nodes/${nodes[0]!.name}/drain`, { token: h.admin.token, body: { parallel: 1 }, status: 202 });
        await settle(h);
        const cancelled = await h.ok('POST', `/nodes/${nodes[0]!.name}/cancel-drain`, { token: h.admin.token });
        assert.equal(cancelled.status, 'cancelled');
        assert.equal(cancelled.inFlight, 1);
        assert.equal((await h.ok('GET', `/nodes/${nodes[0]!.name}`, { token: h.admin.token })).state, 'active');
        await reportIncomingStarted(h, nodes[1]!);
        await settle(h);
        h.advance(1_000);
        await settle(h);
        const after = await h.ok('GET', `/nodes/${nodes[0]!.name}/drain`, { token: h.admin.token });
        assert.deepEqual({ status: after.status, moved: after.moved, inFlight: after.inFlight }, { status: 'cancelled', moved: 1, inFlight: 0 });
        assertApiError(await h.call('POST', `/nodes/${nodes[0]!.name}/cancel-drain`, { token: h.admin.token }), { status: 409, code: 'no_drain' });
      }));
  });
}

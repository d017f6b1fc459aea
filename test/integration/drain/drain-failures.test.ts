/**
 * Drains that go wrong, with real processes (broker, router, agents, gears): the target fills up
 * mid-drain, the copy never passes its health check, the drain's deadline passes. In each, the
 * apps under load see no failed request, and every gear ends on exactly one node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { eventually, startPlatform, type AppView, type Platform } from '../../support/platform.ts';
import { copyBehaviourServer } from './drain-apps.ts';

const DOMAIN = 'fail';
const DRAINED = 'local-node-1';

interface AppSpec {
  readonly name: string;
  readonly gears: number;
  /** Server source (server.js); none: the cartridge's hello app. */
  readonly server?: string;
}

/**
 * A platform whose apps all run on local-node-1 (the only node when they are created), then
 * `targets` more nodes that join empty.
 */
async function platformWithAppsOnOneNode(apps: readonly AppSpec[], options: { targets: number; maxActiveGears: number }): Promise<{ p: Platform; token: string }> {
  const p = await startPlatform({ nodes: 1, maxActiveGears: options.maxActiveGears });
  try {
    const { token } = await p.createUser('tester', { maxGears: 200 });
    await p.createDomain(DOMAIN, token);
    for (const app of apps) {
      const source = app.server === undefined ? undefined : await p.uploadSource({ 'server.js': app.server }, token);
      await p.createApp(DOMAIN, app.name, { gears: app.gears, token, ...(source ? { source } : {}) });
    }
    for (const app of apps) {
      await p.waitForGearsStarted(DOMAIN, app.name);
      await p.waitForRoute(p.appHost(app.name, DOMAIN));
    }
    await p.addNodes(options.targets);
    return { p, token };
  } catch (error) {
    await p.close();
    throw error;
  }
}

/** Each gear of the apps: once in the broker, one directory, one process, all on the same node. */
async function assertEachGearOnce(p: Platform, apps: readonly string[]): Promise<Map<string, string>> {
  const nodeOf = new Map<string, string>();
  for (const name of apps) {
    const view: AppView = await p.app(DOMAIN, name);
    for (const gear of view.gears) {
      assert.ok(!nodeOf.has(gear.id), `gear ${gear.id} listed twice`);
      nodeOf.set(gear.id, gear.node);
    }
  }
  const nodes = await p.nodeNames();
  await eventually('every gear to have one directory and one process, where the broker says', () => {
    const processes = p.gearProcesses();
    for (const [gear, node] of nodeOf) {
      const holders = nodes.filter((each) => p.gearDirsOn(each).includes(gear));
      if (holders.length !== 1 || holders[0] !== node) throw new Error(`gear ${gear}: directories on [${holders.join(', ')}], broker says ${node}`);
      const running = processes.get(gear) ?? [];
      if (running.length !== 1 || running[0]!.node !== node) throw new Error(`gear ${gear}: processes on [${running.map((each) => each.node).join(', ')}], broker says ${node}`);
    }
    return true;
  }, 30_000);
  return nodeOf;
}

function pidsOf(p: Platform, gears: readonly string[]): Map<string, number> {
  const processes = p.gearProcesses();
  return new Map(gears.map((gear) => [gear, processes.get(gear)?.[0]?.pid ?? -1]));
}

describe('drain failures with real processes', () => {
  describe('the targets run out of room mid-drain', () => {
    let p: Platform;
    let token: string;
    // Each copy takes ~3 s to listen, so the drain is slow enough to be overtaken.
    const apps: AppSpec[] = [{ name: 'slowcopy', gears: 6, server: copyBehaviourServer('slow:3000') }];

    before(async () => {
      ({ p, token } = await platformWithAppsOnOneNode(apps, { targets: 2, maxActiveGears: 6 }));
    });
    after(() => p?.close());

    it('fails the drain with a clear reason when an app created meanwhile takes the room; the source serves on, no gear lost or doubled', async () => {
      const host = p.appHost('slowcopy', DOMAIN);
      const load = p.startLoad({ hosts: [host], clients: 4, maxDurationMs: 60_000 });
      const before = await p.app(DOMAIN, 'slowcopy');
      await p.api('POST', `/nodes/${DRAINED}/drain`, { body: { parallel: 1 }, status: 202 });
      await eventually('the first move to be under way', async () => (await p.api('GET', `/nodes/${DRAINED}/drain`)).inFlight === 1, 10_000, 50);
      // 12 slots on the two targets, one reserved by the move in flight: take the other 11.
      await p.createApp(DOMAIN, 'hog', { gears: 11, token });
      const drain = await eventually('the drain to end', async () => {
        const each = await p.api('GET', `/nodes/${DRAINED}/drain`);
        return each.status === 'running' ? undefined : each;
      }, 60_000, 250);
      await p.waitForGearsStarted(DOMAIN, 'hog');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const report = await load.stop();
      console.log(`room taken: drain ${drain.status} after ${drain.moved}/${drain.total} moved: ${drain.reason}; load ${report.requests} requests, ${report.failures} failed`);

      assert.equal(report.failures, 0, JSON.stringify(report.failureSamples));
      assert.ok(report.requests > 100);
      assert.equal(drain.status, 'failed');
      assert.match(drain.reason, /cannot move/);
      assert.match(drain.reason, /full|room|capacity/i, 'the reason says the targets are full');
      assert.ok(drain.moved >= 1 && drain.moved < drain.total, `${drain.moved} of ${drain.total} moved`);

      const nodeOf = await assertEachGearOnce(p, ['slowcopy', 'hog']);
      const after = await p.app(DOMAIN, 'slowcopy');
      assert.deepEqual(after.gears.map((gear) => gear.id).sort(), before.gears.map((gear) => gear.id).sort(), 'no gear lost or added');
      assert.equal(after.gears.filter((gear) => gear.node === DRAINED).length, drain.total - drain.moved, 'the unmoved gears stay on the drained node');
      assert.ok(after.gears.every((gear) => gear.observedState === 'started'));
      // Reservations held: no node took more than its 6 active gears.
      const perNode = new Map<string, number>();
      for (const node of nodeOf.values()) perNode.set(node, (perNode.get(node) ?? 0) + 1);
      for (const [node, count] of perNode) assert.ok(count <= 6, `${node} runs ${count} gears`);
      assert.equal((await p.api('GET', `/nodes/${DRAINED}`)).state, 'deactivated');
      assert.equal((await p.viaRouter(host)).status, 200);
    });
  });

  describe('the copy never passes its health check on the target', () => {
    let p: Platform;
    const apps: AppSpec[] = [
      { name: 'exiter', gears: 2, server: copyBehaviourServer('exit') },
      { name: 'sick', gears: 1, server: copyBehaviourServer('unhealthy') },
    ];

    before(async () => {
      ({ p } = await platformWithAppsOnOneNode(apps, { targets: 1, maxActiveGears: 10 }));
    });
    after(() => p?.close());

    it('rolls every move back: the sources serve on in the same processes, the target keeps no directory, the journal says why', async () => {
      const hosts = apps.map((app) => p.appHost(app.name, DOMAIN));
      const gears = (await Promise.all(apps.map((app) => p.app(DOMAIN, app.name)))).flatMap((view) => view.gears.map((gear) => ({ ...gear, app: view.name })));
      const pidsBefore = pidsOf(p, gears.map((gear) => gear.id));
      const load = p.startLoad({ hosts, clients: 4, maxDurationMs: 80_000 });

      // The sick gear answers 500 on the target: only the start timeout (30 s) ends its move, so
      // it runs alone (POST /moves), beside a drain of the node that the exiting copies fail.
      const sick = gears.find((gear) => gear.app === 'sick')!;
      const [sickMove] = (await p.api('POST', '/moves', { body: { gears: [sick.id], to: 'local-node-2' }, status: 202 })).items;
      const exiters = gears.filter((gear) => gear.app === 'exiter').map((gear) => gear.id);
      const moves = (await p.api('POST', '/moves', { body: { gears: exiters, to: 'local-node-2' }, status: 202 })).items;

      const ended = async (id: string) => {
        const move = await p.api('GET', `/moves/${id}`);
        return move.status === 'running' ? undefined : move;
      };
      const exiterMoves = await Promise.all(moves.map((move: { id: string }) => eventually(`move ${move.id} to end`, () => ended(move.id), 30_000, 200)));
      const sickEnded = await eventually(`move ${sickMove.id} to end`, () => ended(sickMove.id), 60_000, 250);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const report = await load.stop();
      console.log(`health never passes: ${[...exiterMoves, sickEnded].map((move) => `${move.status}: ${move.error}`).join(' | ')}; load ${report.requests} requests, ${report.failures} failed`);

      assert.equal(report.failures, 0, JSON.stringify(report.failureSamples));
      for (const move of exiterMoves) {
        assert.equal(move.status, 'rolled-back');
        assert.match(move.error, /exited before passing its health check/);
      }
      assert.equal(sickEnded.status, 'rolled-back');
      assert.match(sickEnded.error, /not healthy within 30 s/);

      await eventually('the target to remove every copy', () => p.gearDirsOn('local-node-2').length === 0, 20_000);
      const nodeOf = await assertEachGearOnce(p, apps.map((app) => app.name));
      for (const [gear, node] of nodeOf) assert.equal(node, DRAINED, `gear ${gear} stays on its source`);
      assert.deepEqual(pidsOf(p, gears.map((gear) => gear.id)), pidsBefore, 'the sources were never restarted');
      const failed = await p.events('gear.move-failed');
      for (const gear of gears) {
        const event = failed.find((each) => each.subject === `gear:${gear.id}`);
        assert.ok(event, `a gear.move-failed event for ${gear.id}`);
        assert.match(event.message, /health check|not healthy/);
        assert.match(event.message, new RegExp(`keeps running on ${DRAINED}`));
      }
    });

    it('fails a drain of those gears once one has failed three times, saying why, and the node stays out of placement', async () => {
      const host = p.appHost('exiter', DOMAIN);
      const load = p.startLoad({ hosts: [host], clients: 2, maxDurationMs: 60_000 });
      // The sick gear would take 3 × 30 s: scale it away first; the drain then holds the exiters only.
      await p.api('DELETE', `/domains/${DOMAIN}/apps/sick`, { status: 204 });
      const drain = await p.drain(DRAINED, { parallel: 4 }, { timeoutMs: 60_000 });
      const report = await load.stop();
      console.log(`drain of failing copies: ${drain.status}: ${drain.reason}; load ${report.requests} requests, ${report.failures} failed`);
      assert.equal(report.failures, 0, JSON.stringify(report.failureSamples));
      assert.equal(drain.status, 'failed');
      assert.match(drain.reason, /failed to move 3 times \(last: .*exited before passing its health check/);
      // The drain stops starting moves once a gear has failed three times and ends when none is in
      // flight, so the other gear has had up to three attempts by then, depending on timing.
      const attempts = new Map<string, number>();
      for (const move of drain.moves as { gear: string }[]) attempts.set(move.gear, (attempts.get(move.gear) ?? 0) + 1);
      const stuck = /gear (\S+) failed to move 3 times/.exec(drain.reason)![1]!;
      assert.equal(attempts.get(stuck), 3, `the gear named in the reason was tried three times: ${JSON.stringify([...attempts])}`);
      assert.equal(attempts.size, 2, 'both gears were tried');
      assert.ok([...attempts.values()].every((count) => count >= 1 && count <= 3), `no gear more than three times: ${JSON.stringify([...attempts])}`);
      assert.ok(drain.moves.every((move: { status: string }) => move.status === 'rolled-back'));
      assert.equal((await p.api('GET', `/nodes/${DRAINED}`)).state, 'deactivated');
      await eventually('the target to remove every copy', () => p.gearDirsOn('local-node-2').length === 0, 20_000);
      const nodeOf = await assertEachGearOnce(p, ['exiter']);
      assert.ok([...nodeOf.values()].every((node) => node === DRAINED));
    });
  });

  describe("the drain's deadline passes", () => {
    let p: Platform;
    const apps: AppSpec[] = [
      { name: 'quick', gears: 2 },
      // Copies listen after 20 s: well past the 10 s deadline, within the 30 s start timeout.
      { name: 'slow', gears: 3, server: copyBehaviourServer('slow:20000') },
    ];

    before(async () => {
      ({ p } = await platformWithAppsOnOneNode(apps, { targets: 1, maxActiveGears: 10 }));
    });
    after(() => p?.close());

    it('rolls back the moves short of the commit point, keeps the finished ones, reports failed; no request fails', async () => {
      const hosts = apps.map((app) => p.appHost(app.name, DOMAIN));
      const load = p.startLoad({ hosts, clients: 4, maxDurationMs: 60_000 });
      const drain = await p.drain(DRAINED, { parallel: 8, deadlineSeconds: 10 }, { timeoutMs: 40_000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const report = await load.stop();
      console.log(`deadline: drain ${drain.status} (${drain.moved}/${drain.total} moved): ${drain.reason}; load ${report.requests} requests, ${report.failures} failed`);

      assert.equal(report.failures, 0, JSON.stringify(report.failureSamples));
      assert.equal(drain.status, 'failed');
      assert.match(drain.reason, /deadline passed with 3 of 5 gear\(s\) still on node local-node-1/);
      const quick = new Set((await p.app(DOMAIN, 'quick')).gears.map((gear) => gear.id));
      for (const move of drain.moves) {
        if (quick.has(move.gear)) assert.equal(move.status, 'succeeded', `quick gear ${move.gear}: ${move.error}`);
        else {
          assert.equal(move.status, 'rolled-back', `slow gear ${move.gear}`);
          assert.match(move.error, /passed its deadline/);
        }
      }
      await eventually('the target to remove the slow copies', async () => {
        const slow = (await p.app(DOMAIN, 'slow')).gears.map((gear) => gear.id);
        return !p.gearDirsOn('local-node-2').some((gear) => slow.includes(gear));
      }, 20_000);
      const nodeOf = await assertEachGearOnce(p, ['quick', 'slow']);
      for (const [gear, node] of nodeOf) assert.equal(node, quick.has(gear) ? 'local-node-2' : DRAINED, `gear ${gear}`);
      assert.equal((await p.api('GET', `/nodes/${DRAINED}`)).state, 'deactivated');
    });
  });
});

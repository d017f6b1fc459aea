import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { DOMAIN, fetchText, gearPids, isAlive, startNodePlatform, waitFor, type NodePlatform } from './node-platform.ts';

describe('node agent: crashes, agent restarts, lost nodes', () => {
  let platform: NodePlatform;

  before(async () => {
    platform = await startNodePlatform();
  });
  after(() => platform?.close());

  async function startedGears(app: string, count: number) {
    return waitFor(async () => {
      const gears = await platform.appGears(app);
      return gears.length === count && gears.every((gear) => gear.observedState === 'started' && gear.endpoint) && gears;
    }, `${count} started gears of ${app}`, 15_000);
  }

  it('a gear process killed with SIGKILL is restarted and reported started again', async () => {
    await platform.startAgent('crashy');
    await platform.createApp('crashy', 'nodejs', 1);
    const [gear] = await startedGears('crashy', 1);
    const [pid] = gearPids(gear.id);
    process.kill(pid!, 'SIGKILL');
    // Reported unknown while down (1 s backoff), then started in a new process.
    await waitFor(async () => (await platform.appGears('crashy'))[0].observedState === 'unknown', 'the crash to be reported');
    const [back] = await startedGears('crashy', 1);
    const now = gearPids(gear.id);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], pid);
    assert.equal(back.endpoint, gear.endpoint, 'the restarted gear keeps its port');
    assert.equal((await fetchText(back.endpoint))?.text, `Hello from geartide: app crashy, gear ${gear.id}\n`);
    const record = JSON.parse(readFileSync(join(platform.root, 'crashy', 'gears', gear.id, 'gear.json'), 'utf8'));
    assert.equal(record.crashCount, 1);
    await platform.api('DELETE', `/domains/${DOMAIN}/apps/crashy`);
    // Placement spreads an app over nodes: keep the next tests' gears on their own node.
    await platform.api('POST', '/nodes/crashy/deactivate', { token: platform.adminToken });
  });

  it('an agent killed with SIGKILL leaves its gears running; the next agent adopts them, one process per gear; then it goes lost', async () => {
    const first = await platform.spawnAgent('phoenix');
    await platform.createApp('keep', 'nodejs', 2);
    const gears = await startedGears('keep', 2);
    for (const gear of gears) assert.equal(gear.node, 'phoenix');
    const before = new Map(gears.map((gear: { id: string }) => [gear.id, gearPids(gear.id)]));
    for (const pids of before.values()) assert.equal(pids.length, 1);

    first.child.kill('SIGKILL');
    await first.exited;
    for (const [id, [pid]] of before) assert.ok(isAlive(pid!), `gear ${id} survives its agent`);

    const second = await platform.spawnAgent('phoenix');
    // Give the new agent time to do something wrong: several reconcile passes and heartbeats.
    await waitFor(async () => (await platform.api('GET', '/nodes/phoenix', { token: platform.adminToken })).gears.started === 2, 'the new agent to count the adopted gears', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const [id, pids] of before) assert.deepEqual(gearPids(id), pids, `gear ${id} kept its one process`);
    for (const gear of gears) assert.equal((await fetchText(gear.endpoint))?.status, 200);
    assert.match(second.output(), /listening on/);
    assert.doesNotMatch(second.output(), new RegExp('gear process started'), 'nothing was started again');

    // An adopted gear is still supervised: killed, it comes back.
    const [victim] = gears;
    process.kill(before.get(victim.id)![0]!, 'SIGKILL');
    await waitFor(() => {
      const pids = gearPids(victim.id);
      return pids.length === 1 && pids[0] !== before.get(victim.id)![0] && pids;
    }, 'the adopted gear to be restarted after a crash', 10_000);

    // The agent goes for good: the broker marks the node lost after NODE_LOST_AFTER (2 s).
    second.child.kill('SIGKILL');
    await second.exited;
    await waitFor(async () => (await platform.api('GET', '/nodes/phoenix', { token: platform.adminToken })).state === 'lost', 'the node to be lost', 10_000);
    const events = await platform.api('GET', '/events?kind=node.lost', { token: platform.adminToken });
    assert.ok(events.items.some((event: { subject: string }) => event.subject === 'node:phoenix'), 'a node.lost event names the node');
    // Secrets never reach the agent's output.
    assert.doesNotMatch(first.output() + second.output(), /node-suite-bootstrap|gtn_|credential":"/);
  });

  it('stop keeps gears running with stopGears false, and a later agent adopts them', async () => {
    const agent = await platform.startAgent('upgrade');
    await platform.createApp('upg', 'nodejs', 1);
    const [gear] = await startedGears('upg', 1);
    const pids = gearPids(gear.id);
    await agent.stop({ stopGears: false });
    assert.deepEqual(gearPids(gear.id), pids);
    const next = await platform.startAgent('upgrade');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.deepEqual(gearPids(gear.id), pids, 'adopted, not started again');
    await next.stop({ stopGears: true });
    assert.deepEqual(gearPids(gear.id), [], 'stopGears stops every gear process');
  });
});

describe('geartide node: signals', () => {
  let platform: NodePlatform;
  before(async () => {
    platform = await startNodePlatform();
  });
  after(() => platform?.close());

  it('SIGTERM with --keep-gears leaves the gears running; SIGTERM without it stops them', async () => {
    const keeping = await platform.spawnAgent('sig', ['--keep-gears']);
    await platform.createApp('sig', 'nodejs', 1);
    const [gear] = await waitFor(async () => {
      const gears = await platform.appGears('sig');
      return gears[0]?.observedState === 'started' && gears;
    }, 'the gear to start');
    const pids = gearPids(gear.id);
    keeping.child.kill('SIGTERM');
    await keeping.exited;
    assert.equal(keeping.child.exitCode, 0, keeping.output());
    assert.deepEqual(gearPids(gear.id), pids, '--keep-gears kept the gear');

    const stopping = await platform.spawnAgent('sig');
    await waitFor(async () => (await platform.api('GET', '/nodes/sig', { token: platform.adminToken })).gears.started === 1, 'the adopted gear to be counted');
    stopping.child.kill('SIGTERM');
    await stopping.exited;
    assert.equal(stopping.child.exitCode, 0, stopping.output());
    assert.deepEqual(gearPids(gear.id), [], 'a plain SIGTERM stops the gears');
    assert.match(stopping.output(), /node agent stopped/);
  });
});

describe('node agent: a crash-looping gear', () => {
  let platform: NodePlatform;
  before(async () => {
    platform = await startNodePlatform();
  });
  after(() => platform?.close());

  it('is restarted with backoff, reported failed after N crashes while still retried, and recovers once fixed', async () => {
    const agent = await platform.startAgent('loopy', { policy: { crashBackoffInitialMs: 100, crashBackoffMaxMs: 400, failedAfterCrashes: 3 } });
    await platform.createApp('loop', 'nodejs', 1);
    const [gear] = await waitFor(async () => {
      const gears = await platform.appGears('loop');
      return gears[0]?.observedState === 'started' && gears;
    }, 'the gear to start');
    // The nodejs cartridge runs server.js before its built-in server.mjs: make the app crash at once.
    const app = join(agent.stateDir, 'gears', gear.id, 'app');
    writeFileSync(join(app, 'server.js'), 'process.exit(3);\n');
    process.kill(gearPids(gear.id)[0]!, 'SIGKILL');
    await waitFor(async () => (await platform.appGears('loop'))[0].observedState === 'failed', 'the gear to be reported failed', 10_000);
    const record = () => JSON.parse(readFileSync(join(agent.stateDir, 'gears', gear.id, 'gear.json'), 'utf8'));
    const crashes = record().crashCount;
    assert.ok(crashes >= 3, `crash count ${crashes}`);
    await waitFor(() => record().crashCount > crashes, 'another restart attempt while failed');
    assert.ok(gearPids(gear.id).length <= 1, 'never two processes');

    rmSync(join(app, 'server.js'));
    await waitFor(async () => (await platform.appGears('loop'))[0].observedState === 'started', 'the fixed gear to be started again', 10_000);
    assert.equal((await fetchText(gear.endpoint))?.status, 200);
  });
});

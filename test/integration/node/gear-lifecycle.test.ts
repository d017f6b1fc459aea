import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { RunningNodeAgent } from '../../../src/node/node-agent.ts';
import { DOMAIN, fetchText, gearPids, startNodePlatform, waitFor, type NodePlatform } from './node-platform.ts';

describe('node agent: gear lifecycle with real processes', () => {
  let platform: NodePlatform;
  let agent: RunningNodeAgent;

  before(async () => {
    platform = await startNodePlatform();
    agent = await platform.startAgent('node1');
    await waitFor(async () => (await platform.api('GET', '/nodes/node1', { token: platform.adminToken })).lastHeartbeatAt, 'the first heartbeat');
  });
  after(() => platform?.close());

  /** The app's gears once every one reports `state` (with an endpoint when started). */
  async function gearsIn(app: string, state: string) {
    return waitFor(async () => {
      const gears = await platform.appGears(app);
      return gears.every((gear) => gear.observedState === state && (state !== 'started' || gear.endpoint)) && gears;
    }, `gears of ${app} to be ${state}`, 15_000);
  }

  it('health answers with the node name and its gear count', async () => {
    const health = await (await fetch(`${agent.url}/health`)).json();
    assert.deepEqual(health, { status: 'ok', node: 'node1', gears: 0 });
    assert.equal((await fetch(`${agent.url}/nope`)).status, 404);
  });

  it('runs an app of 2 gears as two processes that answer with their gear id; stop, start, restart, delete', async () => {
    await platform.createApp('hello', 'nodejs', 2);
    const started = await gearsIn('hello', 'started');
    assert.equal(started.length, 2);
    const pids = new Map<string, number>();
    for (const gear of started) {
      assert.equal(gear.node, 'node1');
      assert.match(gear.endpoint, /^127\.0\.0\.1:\d+$/);
      const answer = await fetchText(gear.endpoint);
      assert.deepEqual(answer, { status: 200, text: `Hello from geartide: app hello, gear ${gear.id}\n` });
      const running = gearPids(gear.id);
      assert.equal(running.length, 1, `exactly one process for gear ${gear.id}: ${running}`);
      pids.set(gear.id, running[0]!);
      const dir = join(agent.stateDir, 'gears', gear.id);
      for (const sub of ['app', 'data', 'log', 'gear.json']) assert.ok(existsSync(join(dir, sub)), `${sub} in the gear directory`);
    }
    assert.notEqual(started[0].endpoint, started[1].endpoint);
    const node = await waitFor(async () => {
      const view = await platform.api('GET', '/nodes/node1', { token: platform.adminToken });
      return view.gears.started === 2 && view;
    }, 'the heartbeat to count 2 started gears');
    assert.deepEqual(node.gears, { started: 2, idle: 0, stopped: 0, unknown: 0 });

    // stop: processes gone, reported stopped without endpoints
    await platform.api('POST', `/domains/${DOMAIN}/apps/hello/stop`);
    const stopped = await gearsIn('hello', 'stopped');
    for (const gear of stopped) {
      assert.equal(gear.endpoint, null);
      assert.deepEqual(gearPids(gear.id), []);
    }
    await waitFor(async () => (await platform.api('GET', '/nodes/node1', { token: platform.adminToken })).gears.stopped === 2, 'the heartbeat to count 2 stopped gears');

    // start again: same ports (still free), new processes
    await platform.api('POST', `/domains/${DOMAIN}/apps/hello/start`);
    const again = await gearsIn('hello', 'started');
    for (const gear of again) {
      assert.equal(gear.endpoint, started.find((first: { id: string }) => first.id === gear.id).endpoint, 'the port is kept across a stop/start');
      assert.equal((await fetchText(gear.endpoint))?.status, 200);
      const running = gearPids(gear.id);
      assert.equal(running.length, 1);
      pids.set(gear.id, running[0]!);
    }

    // restart: a new process per gear
    await platform.api('POST', `/domains/${DOMAIN}/apps/hello/restart`);
    for (const gear of again) {
      const fresh = await waitFor(() => {
        const running = gearPids(gear.id);
        return running.length === 1 && running[0] !== pids.get(gear.id) && running;
      }, `gear ${gear.id} to run in a new process`);
      await waitFor(async () => (await fetchText(gear.endpoint))?.status === 200, `restarted gear ${gear.id} to answer`);
      assert.equal(gearPids(gear.id).length, 1, `one process after the restart: ${fresh}`);
    }
    await gearsIn('hello', 'started');

    // delete: processes and directories gone
    await platform.api('DELETE', `/domains/${DOMAIN}/apps/hello`);
    for (const gear of again) {
      await waitFor(() => gearPids(gear.id).length === 0 && !existsSync(join(agent.stateDir, 'gears', gear.id)), `gear ${gear.id} to be removed`);
    }
    assert.equal((await (await fetch(`${agent.url}/health`)).json()).gears, 0);
  });

  it('serves the static cartridge\'s page from a real process', async () => {
    await platform.createApp('site', 'static', 1);
    const [gear] = await gearsIn('site', 'started');
    const page = await fetchText(gear.endpoint);
    assert.equal(page?.status, 200);
    assert.match(page!.text, new RegExp(`<h1>Hello from geartide: app site, gear ${gear.id}</h1>`));
    assert.equal((await fetchText(gear.endpoint, '/missing.css'))?.status, 404);
    assert.equal((await fetchText(gear.endpoint, '/..%2f..%2fgear.json'))?.status, 400);
    assert.equal(gearPids(gear.id).length, 1);
    await platform.api('DELETE', `/domains/${DOMAIN}/apps/site`);
    await waitFor(() => gearPids(gear.id).length === 0, 'the static gear to stop');
  });
});

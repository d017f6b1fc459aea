/**
 * Issue 5, kill tests: the broker (a real `geartide broker` process running the autoscaler with
 * the local provider) SIGKILLed at each journal phase of a scale-up and of a scale-down
 * (GEARTIDE_FAILPOINT=scale-up:<phase> / scale-down:<phase>), then started again without it.
 * After the restart the operation completes, with no duplicate node host (one scale event, one
 * agent process per host) and no orphan (the removed host's agent is gone, the provider and the
 * broker agree on the hosts), and every gear runs once on a node that stays.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';

import { openStore } from '../../../src/store/open-store.ts';
import type { Operation } from '../../../src/core/model.ts';
import { findProcessesWithEnv, isSameProcess } from '../../../src/node/process-identity.ts';
import { DOMAIN, startKillPlatform, waitFor, within, type KillPlatform } from './kill-platform.ts';

const POOL = 'small@east';
const PREFIX = 'local-small-east-node-';

/** Quick passes and no waiting between scale operations: the test decides when they happen. */
const AUTOSCALE = {
  AUTOSCALE_PROVIDER: 'local',
  AUTOSCALE_POOLS: POOL,
  AUTOSCALE_INTERVAL: '1',
  AUTOSCALE_MIN_NODES: '0',
  SCALE_UP_COOLDOWN: '0',
  SCALE_DOWN_COOLDOWN: '0',
  SCALE_DOWN_DELAY_AFTER_ADD: '0',
  SCALE_DOWN_UNNEEDED_TIME: '0',
};

interface ProviderState {
  nodes: { name: string; scaleEventId: string; pid: number | null; pidStartTime: string | null }[];
}

function providerState(p: KillPlatform): ProviderState {
  try {
    return JSON.parse(readFileSync(join(p.home, 'local-provider-small-east.json'), 'utf8')) as ProviderState;
  } catch {
    return { nodes: [] };
  }
}

/** Live agent processes of a host the local provider started (it names each in GEARTIDE_NODE_NAME). */
function agentProcesses(name: string): number[] {
  return findProcessesWithEnv('GEARTIDE_NODE_NAME', name);
}

async function scaleOperations(p: KillPlatform): Promise<Operation[]> {
  const store = await openStore(`sqlite:${join(p.home, 'broker.db')}`);
  try {
    return (await store.listOperations()).filter((operation) => operation.kind === 'scale-up' || operation.kind === 'scale-down');
  } finally {
    await store.close();
  }
}

/** Each host the provider has is one registered, active node of the pool with one agent process. */
async function assertHostsAgree(p: KillPlatform, expected: string[]): Promise<void> {
  const state = providerState(p);
  assert.deepEqual(state.nodes.map((node) => node.name).sort(), expected, 'the provider\'s hosts');
  for (const node of state.nodes) assert.deepEqual(agentProcesses(node.name), [node.pid], `one agent process for ${node.name}, the one recorded`);
  const nodes = (await p.api('GET', '/nodes', { token: p.adminToken })).items as { name: string; state: string }[];
  assert.deepEqual(nodes.filter((node) => node.state !== 'gone').map((node) => `${node.name}:${node.state}`).sort(), expected.map((name) => `${name}:active`));
}

function setConf(p: KillPlatform, values: Record<string, string>): void {
  // broker.conf's last line for a key wins.
  appendFileSync(join(p.home, 'broker.conf'), Object.entries(values).map(([key, value]) => `${key}="${value}"\n`).join(''));
}

async function killedAt(p: KillPlatform, failpoint: string): Promise<void> {
  const exit = await within(p.broker.exited, `the broker to reach failpoint ${failpoint}`, 60_000);
  assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, `the broker died by its failpoint:\n${p.broker.output()}`);
}

describe('kill tests: the broker SIGKILLed during a scale-up', () => {
  let p: KillPlatform | undefined;
  afterEach(async () => {
    await p?.close();
    p = undefined;
  });

  for (const phase of ['requesting', 'provisioning'] as const) {
    it(`killed at scale-up:${phase}: the restarted broker completes it with exactly the hosts asked for`, { timeout: 120_000 }, async () => {
      p = await startKillPlatform(AUTOSCALE);
      setConf(p, { AUTOSCALE_MIN_NODES: '2' });
      await p.restartBroker(`scale-up:${phase}`);
      await killedAt(p, `scale-up:${phase}`);

      const [operation] = await scaleOperations(p);
      assert.deepEqual({ kind: operation!.kind, phase: operation!.phase, status: operation!.status }, { kind: 'scale-up', phase, status: 'running' });
      const before = providerState(p);
      if (phase === 'requesting') assert.deepEqual(before.nodes, [], 'killed before the provider was asked');
      else assert.equal(before.nodes.length, 2, 'the provider started both hosts before the kill');

      await p.restartBroker();
      await waitFor(async () => (await scaleOperations(p!)).every((each) => each.status !== 'running') && providerState(p!).nodes.length === 2, 'the scale-up to end', 60_000);
      await waitFor(async () => ((await p!.api('GET', '/nodes', { token: p!.adminToken })).items as { state: string }[]).filter((node) => node.state === 'active').length === 2, 'both nodes active', 30_000);

      const operations = await scaleOperations(p);
      assert.equal(operations.length, 1, 'no second scale-up was asked for');
      assert.equal(operations[0]!.status, 'succeeded', operations[0]!.error ?? '');
      const scaleEventId = (operations[0]!.data as { scaleEventId: string }).scaleEventId;
      assert.ok(providerState(p).nodes.every((node) => node.scaleEventId === scaleEventId), 'both hosts belong to the one scale event');
      await assertHostsAgree(p, [`${PREFIX}1`, `${PREFIX}2`]);
      if (phase === 'provisioning') {
        assert.deepEqual(providerState(p).nodes.map((node) => node.pid), before.nodes.map((node) => node.pid), 'the agents started before the kill were adopted, not started again');
      }
    });
  }
});

describe('kill tests: the broker SIGKILLed during a scale-down', () => {
  let p: KillPlatform | undefined;
  afterEach(async () => {
    await p?.close();
    p = undefined;
  });

  for (const phase of ['cordoned', 'draining', 'deleting', 'removing'] as const) {
    it(`killed at scale-down:${phase}: the restarted broker removes exactly the chosen host, and every gear runs once on the other`, { timeout: 150_000 }, async () => {
      p = await startKillPlatform({ ...AUTOSCALE, AUTOSCALE_MIN_NODES: '2' });
      await waitFor(async () => ((await p!.api('GET', '/nodes', { token: p!.adminToken })).items as { state: string }[]).filter((node) => node.state === 'active').length === 2, 'the pool at its minimum of 2', 60_000);
      // One gear on each node, so the removed node has a gear to move: the pool packs (a second
      // app would join the first on its node), so one app of two gears, which spread places apart.
      await p.createStartedGear('ka');
      await p.api('POST', `/domains/${DOMAIN}/apps/ka/scale`, { body: { gears: 2 } });
      const gears = await waitFor(
        async () => {
          const all = (await p!.api('GET', `/domains/${DOMAIN}/apps/ka`)).gears as { id: string; node: string; observedState: string }[];
          return all.length === 2 && all.every((gear) => gear.observedState === 'started') ? all : undefined;
        },
        'both gears of ka to start',
        30_000,
      );
      assert.notEqual(gears[0]!.node, gears[1]!.node);

      setConf(p, { AUTOSCALE_MIN_NODES: '1' });
      await p.restartBroker(`scale-down:${phase}`);
      await killedAt(p, `scale-down:${phase}`);
      const [operation] = (await scaleOperations(p)).filter((each) => each.kind === 'scale-down');
      assert.deepEqual({ phase: operation!.phase, status: operation!.status }, { phase, status: 'running' });
      const removed = (operation!.data as { nodeName: string }).nodeName;
      const kept = gears.map((gear) => gear.node).find((node) => node !== removed)!;
      const removedAgent = providerState(p).nodes.find((node) => node.name === removed);

      await p.restartBroker();
      await waitFor(async () => (await scaleOperations(p!)).every((each) => each.status !== 'running'), 'the scale-down to end', 90_000);
      const ended = (await scaleOperations(p)).filter((each) => each.kind === 'scale-down');
      assert.equal(ended.length, 1, 'one scale-down');
      assert.equal(ended[0]!.status, 'succeeded', ended[0]!.error ?? '');

      assert.equal((await p.api('GET', `/nodes/${removed}`, { token: p.adminToken })).state, 'gone');
      await assertHostsAgree(p, [kept]);
      if (removedAgent?.pid) assert.equal(isSameProcess(removedAgent.pid, removedAgent.pidStartTime), false, `the agent of ${removed} is gone`);
      for (const gear of gears) await p.waitSettledOn(gear.id, 'ka', kept);
    });
  }
});

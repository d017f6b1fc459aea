// The local provider against a real broker: node agents as real processes that register,
// deleted by name (exactly the one asked for), adopted by a new provider instance.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { isSameProcess } from '../../../src/node/process-identity.ts';
import { LocalProvider } from '../../../src/providers/local/local-provider.ts';
import { BOOTSTRAP_TOKEN, startBrokerHarness, type BrokerHarness } from '../../support/broker-harness.ts';
import { describeProviderConformance } from '../../support/provider-conformance.ts';

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface StateFile {
  nodes: { name: string; pid: number | null; pidStartTime: string | null }[];
}

describe('local provider', () => {
  let h: BrokerHarness;
  let home: string;
  let provider: LocalProvider;
  const make = (maxNodes: number | null = null) =>
    new LocalProvider({ home, brokerUrl: h.broker.url, bootstrapToken: BOOTSTRAP_TOKEN, gearProfile: 'small', maxActiveGears: 10, maxNodes });
  const registered = async (name: string) => (await h.store.getNodeByName(name))?.state === 'active';
  const state = async (): Promise<StateFile> => JSON.parse(readFileSync(join(home, 'local-provider.json'), 'utf8'));

  before(async () => {
    // Real time: the agents heartbeat against the broker's clock.
    h = await startBrokerHarness('sqlite', { listen: true });
    await h.createDistrict('default');
    home = mkdtempSync(join(tmpdir(), 'geartide-local-provider-'));
    provider = make(3);
  });

  after(async () => {
    await provider.close();
    await h.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('starts node agents that register with the scale-event id, idempotently per scale event', async () => {
    const created = await provider.increaseSize({ count: 2, scaleEventId: 'scale-1', district: 'default' });
    assert.deepEqual(created.map((node) => node.name), ['local-node-1', 'local-node-2']);
    await eventually('both agents registered', async () => (await registered('local-node-1')) && (await registered('local-node-2')));
    const node = await h.store.getNodeByName('local-node-1');
    assert.equal(node!.scaleEventId, 'scale-1');
    assert.equal(node!.districtId, (await h.store.getDistrictByName('default'))!.id);

    const again = await provider.increaseSize({ count: 2, scaleEventId: 'scale-1', district: 'default' });
    assert.deepEqual(again.map((each) => each.name), ['local-node-1', 'local-node-2'], 'the same scale event creates nothing new');
    assert.equal(await provider.targetSize(), 2);
  });

  it('reports its limit as headroom and refuses past it as exhausted', async () => {
    assert.deepEqual(await provider.headroom(), { nodes: 1 });
    await assert.rejects(provider.increaseSize({ count: 2, scaleEventId: 'scale-2', district: 'default' }), (error: Error & { category?: string }) => {
      assert.equal(error.category, 'exhausted');
      assert.match(error.message, /LOCAL_MAX_NODES=3/);
      return true;
    });
    assert.equal(await provider.targetSize(), 2, 'nothing started by a refused request');
  });

  it('deletes exactly the node asked for, and is idempotent', async () => {
    const before = await state();
    const second = before.nodes.find((node) => node.name === 'local-node-2')!;
    const first = before.nodes.find((node) => node.name === 'local-node-1')!;
    await provider.deleteNodes(['local-node-1']);
    assert.equal(isSameProcess(first.pid, first.pidStartTime), false, 'the agent of local-node-1 is gone');
    assert.equal(isSameProcess(second.pid, second.pidStartTime), true, 'local-node-2 is untouched');
    assert.deepEqual((await provider.nodes()).map((node) => node.name), ['local-node-2']);
    await provider.deleteNodes(['local-node-1', 'no-such-node']);
    assert.deepEqual((await provider.nodes()).map((node) => [node.name, node.status]), [['local-node-2', 'running']]);
  });

  it('a new provider instance over the same home adopts the running agent instead of starting another', async () => {
    const before = (await state()).nodes.find((node) => node.name === 'local-node-2')!;
    const other = make(3);
    await other.resume();
    const after = (await state()).nodes.find((node) => node.name === 'local-node-2')!;
    assert.equal(after.pid, before.pid, 'same agent process');
    assert.equal(after.pidStartTime, before.pidStartTime);
    // New names never reuse a deleted one: a gone node's name stays its own in the broker.
    const created = await other.increaseSize({ count: 1, scaleEventId: 'scale-3', district: 'default' });
    assert.deepEqual(created.map((node) => node.name), ['local-node-3']);
    await eventually('local-node-3 registered', () => registered('local-node-3'));
    // The first instance's view is stale now; the new one owns the home (and after() closes it).
    provider = other;
  });
});

describeProviderConformance('local', async () => {
  const h = await startBrokerHarness('sqlite', { listen: true });
  await h.createDistrict('east');
  const home = mkdtempSync(join(tmpdir(), 'geartide-local-conformance-'));
  let limit: number | null = null;
  const provider = new LocalProvider({ home, brokerUrl: h.broker.url, bootstrapToken: BOOTSTRAP_TOKEN, gearProfile: 'small', maxActiveGears: 10, maxNodes: () => limit });
  return {
    provider,
    district: 'east',
    limitTo: async (total) => {
      limit = total;
    },
    // A local host is its agent process: alive as recorded in the state file, same start time.
    existsInCloud: async (providerId) => {
      const state = JSON.parse(readFileSync(join(home, 'local-provider.json'), 'utf8')) as StateFile;
      const record = state.nodes.find((node) => `local:${node.name}` === providerId);
      return record !== undefined && isSameProcess(record.pid, record.pidStartTime);
    },
    close: async () => {
      await h.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
});

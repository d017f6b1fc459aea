// The simulator and the broker take the same decisions on the same scenario (issue 6): one small
// trace is replayed through `simulate` (geartide's policy) and through the real broker — its
// REST API for apps, its autoscaler and executors on a store, its clock in the test's hands —
// with a provider whose hosts "boot" after the same delay and register as agents do. The
// scale-ups (when, how many), cordons and deletions (when, which node) must be the same.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadBrokerConfig } from '../../../src/broker/broker-config.ts';
import type { Headroom, IncreaseSizeRequest, Provider, ProviderNode } from '../../../src/providers/provider.ts';
import { simSetup } from '../../../src/sim/sim-setup.ts';
import { simulate } from '../../../src/sim/simulator.ts';
import type { Trace, TraceApp } from '../../../src/sim/trace.ts';
import { BOOTSTRAP_TOKEN, HARNESS_EPOCH, startBrokerHarness, type BrokerHarness } from '../../support/broker-harness.ts';

const BOOT_SECONDS = 30;
const ENV = {
  AUTOSCALE_PROVIDER: 'local', // replaced by the test's provider below; the pool and its keys are what count
  AUTOSCALE_POOLS: 'small min=1 max=10 max-active-gears=10',
  AUTOSCALE_INTERVAL: '10',
  SCALE_UP_COOLDOWN: '0',
  SCALE_DOWN_COOLDOWN: '0',
  SCALE_DOWN_UNNEEDED_TIME: '60',
  SCALE_DOWN_DELAY_AFTER_ADD: '60',
  APP_CREATE_WAIT: '0',
} as const;

/**
 * Hosts named as the simulator names them (sim-node-N), registered through the broker's own
 * registration endpoint when their boot time comes — what a cloud plus cloud-init would do.
 */
class BootingProvider implements Provider {
  readonly kind = 'test-booting';
  private next = 1;
  private readonly hosts = new Map<string, { name: string; scaleEventId: string; district: string; bootAt: number; registered: boolean; createdAt: number }>();

  constructor(private readonly bootMs: number) {}

  async targetSize(): Promise<number> {
    return this.hosts.size;
  }

  async increaseSize(request: IncreaseSizeRequest): Promise<ProviderNode[]> {
    const already = [...this.hosts.values()].filter((host) => host.scaleEventId === request.scaleEventId);
    if (already.length === 0) {
      for (let index = 0; index < request.count; index++) {
        const name = `sim-node-${this.next++}`;
        this.hosts.set(name, { name, scaleEventId: request.scaleEventId, district: request.district, bootAt: this.now + this.bootMs, registered: false, createdAt: this.now });
      }
    }
    return this.nodes().then((nodes) => nodes.filter((node) => node.scaleEventId === request.scaleEventId));
  }

  async deleteNodes(names: readonly string[]): Promise<void> {
    for (const name of names) this.hosts.delete(name);
  }

  async nodes(): Promise<ProviderNode[]> {
    return [...this.hosts.values()].map((host) => ({ name: host.name, providerId: host.name, status: host.registered ? 'running' : 'creating', scaleEventId: host.scaleEventId, district: host.district, createdAt: host.createdAt }));
  }

  async headroom(): Promise<Headroom> {
    return { nodes: null };
  }

  async close(): Promise<void> {}

  now = HARNESS_EPOCH;

  /** Hosts due to boot by `until`, earliest first. */
  due(until: number): { name: string; bootAt: number }[] {
    return [...this.hosts.values()].filter((host) => !host.registered && host.bootAt <= until).sort((a, b) => a.bootAt - b.bootAt);
  }

  async register(h: BrokerHarness, name: string, district: string): Promise<void> {
    const host = this.hosts.get(name)!;
    host.registered = true;
    await h.ok('POST', '/nodes/register', { token: BOOTSTRAP_TOKEN, body: { name, gearProfile: 'small', maxActiveGears: 10, district, scaleEventId: host.scaleEventId }, status: 201 });
  }
}

const app = (id: string, arrival: number, departure: number): TraceApp => ({ id, arrival, departure, gears: 1 });

/**
 * 0 s: 1 app; 5 s: 7 more (80 % of the one node: a scale-up at 10 s); 100 s: 6 more (70 % of
 * two); 200 s: 4 more (90 %: another); 600 s: all leave (cordons and deletions down to min);
 * 800 s: 9 arrive (90 % of the one node left: a scale-up again); all leave at 1000 s.
 */
function scenario(): Trace {
  const apps: TraceApp[] = [app('a0', 0, 600)];
  for (let index = 1; index <= 7; index++) apps.push(app(`a${index}`, 5, 600));
  for (let index = 0; index < 6; index++) apps.push(app(`b${index}`, 100, 600));
  for (let index = 0; index < 4; index++) apps.push(app(`c${index}`, 200, 600));
  for (let index = 0; index < 9; index++) apps.push(app(`d${index}`, 800, 1000));
  return { name: 'scenario', apps, start: 0, end: 1000, mapping: 'one-gear apps, by hand' };
}

type Decision = [time: number, kind: string, what: string | number];

describe('the simulator and the broker on the same scenario', () => {
  it('scale up, cordon and delete the same nodes at the same times', { timeout: 120_000 }, async () => {
    const trace = scenario();
    const config = loadBrokerConfig({ env: { GEARTIDE_HOME: '/nonexistent-geartide-home', NODE_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN, ...ENV } });
    const { settings, policies } = simSetup(config, trace, { bootDelaySeconds: BOOT_SECONDS, quota: null, failureRate: 0, moveSeconds: 1, policies: ['geartide'] });
    const simulated = simulate(trace, policies[0]!, settings);
    const fromSim: Decision[] = simulated.events.flatMap((event): Decision[] => {
      if (event.kind === 'scale-up') return [[event.time, 'scale-up', Number(event.detail.split(' ')[0])]];
      if (event.kind === 'scale-down') return [[event.time, 'cordon', event.detail.split(':')[0]!]];
      if (event.kind === 'node-deleted') return [[event.time, 'deleted', event.detail]];
      return [];
    });
    assert.equal(simulated.placementsRefused, 0, 'the scenario refuses nothing');

    const provider = new BootingProvider(BOOT_SECONDS * 1000);
    const h = await startBrokerHarness('sqlite', { env: ENV, providers: new Map([['small', provider]]) });
    try {
      const at = (seconds: number) => {
        h.advance(HARNESS_EPOCH + seconds * 1000 - h.now());
        provider.now = h.now();
      };
      await h.createDistrict('east');
      const user = await h.createUser('sim', { maxGears: 1000 });
      await h.createDomain(user, 'trace');
      // The simulator starts with the pool's minimum registered: so does the broker.
      await provider.increaseSize({ count: 1, scaleEventId: 'initial', district: 'east' });
      await provider.register(h, 'sim-node-1', 'east');

      // Trace events in the simulator's order: by time, departures, then boots, then arrivals.
      const events = [
        ...trace.apps.map((each) => ({ time: each.departure, order: 0, run: () => h.ok('DELETE', `/domains/trace/apps/${each.id}`, { token: user.token, status: 204 }) })),
        ...trace.apps.map((each) => ({ time: each.arrival, order: 2, run: () => h.ok('POST', '/domains/trace/apps', { token: user.token, body: { name: each.id, cartridge: 'nodejs', gears: each.gears }, status: 201 }) })),
      ].sort((a, b) => a.time - b.time || a.order - b.order);
      const autoscaler = h.broker.autoscaler!;
      for (let tick = trace.start; tick <= trace.end; tick += settings.intervalSeconds) {
        for (;;) {
          const boot = provider.due(HARNESS_EPOCH + tick * 1000)[0];
          const event = events[0];
          const bootAt = boot ? (boot.bootAt - HARNESS_EPOCH) / 1000 : Infinity;
          if (event && event.time <= tick && (event.time < bootAt || (event.time === bootAt && event.order === 0))) {
            at(event.time);
            await event.run();
            events.shift();
          } else if (boot) {
            at(bootAt);
            await provider.register(h, boot.name, 'east');
          } else break;
        }
        at(tick);
        await autoscaler.passOnce();
        // A drained node's drain and deletion finish within the tick, as the simulator's do.
        await h.broker.mover.passOnce();
        await autoscaler.stepOperations();
      }

      const fromBroker: Decision[] = (await h.store.listEvents({ limit: 1000, kind: 'pool' })).flatMap((event): Decision[] => {
        const time = (event.time - HARNESS_EPOCH) / 1000;
        if (event.kind === 'pool.scale-up') return [[time, 'scale-up', event.data.count as number]];
        if (event.kind === 'pool.scale-down') return [[time, 'cordon', event.data.node as string]];
        if (event.kind === 'pool.scaled-down') return [[time, 'deleted', event.data.node as string]];
        return [];
      });
      assert.ok(fromSim.length >= 6, `the scenario exercises the planner: ${JSON.stringify(fromSim)}`);
      assert.deepEqual(fromBroker, fromSim);
    } finally {
      await h.close();
    }
  });
});

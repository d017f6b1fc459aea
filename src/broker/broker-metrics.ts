import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { NODE_STATES } from '../core/model.ts';
import type { Store } from '../store/store.ts';
import type { AutoscaleConfig } from './broker-config.ts';
import type { PoolPass } from './autoscaler-controller.ts';
import type { ScaleObserver } from './scale-executor.ts';

/**
 * The broker's /metrics (Prometheus text format). Gauges of the platform's state are read from
 * the store when scraped, so every broker replica reports the same and none depends on being
 * the autoscaler's leader; counters and histograms count what this broker did.
 */
export class BrokerMetrics implements ScaleObserver {
  readonly registry = new Registry();
  private readonly scaleUps: Counter<'pool'>;
  private readonly scaleUpNodes: Counter<'pool'>;
  private readonly scaleDowns: Counter<'pool'>;
  private readonly scaleDownsDone: Counter<'pool'>;
  private readonly failures: Counter<'pool' | 'kind' | 'exhausted'>;
  private readonly moveDuration: Histogram<'outcome'>;
  private readonly planDuration: Histogram<'pool'>;
  private readonly lastPlan: Gauge<'pool' | 'kind'>;

  constructor(store: Pick<Store, 'listNodes' | 'getPoolMemory' | 'listDistricts'>, autoscale: AutoscaleConfig) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'geartide_broker_' });

    new Gauge({
      name: 'geartide_nodes',
      help: 'Node hosts by gear profile and lifecycle state.',
      labelNames: ['profile', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const node of await store.listNodes()) counts.set(`${node.gearProfile}\u0000${node.state}`, (counts.get(`${node.gearProfile}\u0000${node.state}`) ?? 0) + 1);
        const profiles = new Set([...counts.keys()].map((key) => key.split('\u0000')[0]!));
        for (const profile of profiles) for (const state of NODE_STATES) this.set({ profile, state }, counts.get(`${profile}\u0000${state}`) ?? 0);
      },
    });

    // The pool gauges are collected in parallel (prom-client asks every metric at once), so
    // they share one read of the store per scrape: the first collect starts it, the others
    // await the same promise.
    let reading: { at: number; figures: Promise<PoolFigures[]> } | undefined;
    const figures = (): Promise<PoolFigures[]> => {
      if (reading === undefined || Date.now() - reading.at > 500) reading = { at: Date.now(), figures: readPoolFigures(store, autoscale) };
      return reading.figures;
    };
    const poolGauge = (name: string, help: string, value: (pool: PoolFigures) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers: [registry],
        async collect() {
          this.reset();
          for (const pool of await figures()) this.set({ pool: pool.name }, value(pool));
        },
      });
    new Gauge({ name: 'geartide_pools', help: 'Pools the autoscaler manages.', registers: [registry] }).set(autoscale.provider === 'none' ? 0 : autoscale.pools.length);
    poolGauge('geartide_pool_usage_ratio', "Active gears over max_active_gears of the pool's schedulable nodes (0–1).", (pool) => (pool.capacity === 0 ? 0 : pool.active / pool.capacity));
    poolGauge('geartide_pool_active_gears', "Active gears on the pool's schedulable nodes.", (pool) => pool.active);
    poolGauge('geartide_pool_capacity_gears', "Sum of max_active_gears over the pool's schedulable nodes.", (pool) => pool.capacity);
    poolGauge('geartide_pool_exhausted', '1 while the pool cannot grow because its cloud is out of quota or capacity.', (pool) => (pool.exhausted ? 1 : 0));
    poolGauge('geartide_pool_paused', "1 while an operator has paused the pool's autoscaling.", (pool) => (pool.paused ? 1 : 0));

    this.scaleUps = new Counter({ name: 'geartide_scale_ups_total', help: 'Scale-up requests made.', labelNames: ['pool'], registers: [registry] });
    this.scaleUpNodes = new Counter({ name: 'geartide_scale_up_nodes_total', help: 'Node hosts asked for by scale-ups.', labelNames: ['pool'], registers: [registry] });
    this.scaleDowns = new Counter({ name: 'geartide_scale_downs_total', help: 'Scale-downs started (a node chosen and drained).', labelNames: ['pool'], registers: [registry] });
    this.scaleDownsDone = new Counter({ name: 'geartide_scale_downs_completed_total', help: 'Scale-downs that deleted their node host.', labelNames: ['pool'], registers: [registry] });
    this.failures = new Counter({ name: 'geartide_scale_failures_total', help: 'Failed scale operations; exhausted="true" when the cloud was out of quota or capacity.', labelNames: ['pool', 'kind', 'exhausted'], registers: [registry] });
    this.moveDuration = new Histogram({
      name: 'geartide_move_duration_seconds',
      help: 'How long gear moves took, from planned to done or rolled back.',
      labelNames: ['outcome'],
      buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    });
    this.planDuration = new Histogram({
      name: 'geartide_autoscaler_plan_duration_seconds',
      help: 'Time planScale took per pool and pass (the snapshot read excluded).',
      labelNames: ['pool'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers: [registry],
    });
    this.lastPlan = new Gauge({ name: 'geartide_autoscaler_last_plan', help: '1 for the kind of the last plan of each pool (on the leader).', labelNames: ['pool', 'kind'], registers: [registry] });
  }

  scaleUpRequested(pool: string, count: number): void {
    this.scaleUps.inc({ pool });
    this.scaleUpNodes.inc({ pool }, count);
  }

  scaleDownStarted(pool: string): void {
    this.scaleDowns.inc({ pool });
  }

  scaleDownDone(pool: string): void {
    this.scaleDownsDone.inc({ pool });
  }

  scaleFailed(pool: string, kind: 'scale-up' | 'scale-down', exhausted: boolean): void {
    this.failures.inc({ pool, kind, exhausted: String(exhausted) });
  }

  moveEnded(outcome: 'succeeded' | 'rolled-back', durationMs: number): void {
    this.moveDuration.observe({ outcome }, durationMs / 1000);
  }

  planned(pass: PoolPass): void {
    this.planDuration.observe({ pool: pass.pool }, pass.planMs / 1000);
    for (const kind of ['scale-up', 'scale-down', 'cancel-drain', 'wait', 'noop']) this.lastPlan.set({ pool: pass.pool, kind }, pass.plan.kind === kind ? 1 : 0);
  }
}

interface PoolFigures {
  readonly name: string;
  readonly active: number;
  readonly capacity: number;
  readonly exhausted: boolean;
  readonly paused: boolean;
}

async function readPoolFigures(store: Pick<Store, 'listNodes' | 'getPoolMemory' | 'listDistricts'>, autoscale: AutoscaleConfig): Promise<PoolFigures[]> {
  if (autoscale.provider === 'none') return [];
  const districts = await store.listDistricts();
  const figures: PoolFigures[] = [];
  for (const pool of autoscale.pools) {
    const districtId = pool.district === null ? null : districts.find((district) => district.name === pool.district)?.id;
    const nodes = (await store.listNodes({ gearProfile: pool.gearProfile, states: ['active'] })).filter((node) => node.districtId !== null && (districtId === null || node.districtId === districtId));
    const memory = await store.getPoolMemory(pool.name);
    figures.push({
      name: pool.name,
      active: nodes.reduce((sum, node) => sum + node.activeGears, 0),
      capacity: nodes.reduce((sum, node) => sum + node.maxActiveGears, 0),
      exhausted: memory.exhausted !== null,
      paused: memory.paused !== null,
    });
  }
  return figures;
}

/**
 * From a broker.conf (loaded and validated as the broker loads it) and a trace to what
 * `simulate` needs: the settings of the pool it simulates, the policies to compare, and notes on
 * anything the simulator changed or the reader should know. Shared by `geartide sim` and
 * bench/efficiency, so both simulate the same pool from the same keys.
 */
import type { BrokerConfig } from '../broker/broker-config.ts';
import { scalePolicy } from '../broker/scale-snapshot.ts';
import { clusterAutoscalerPolicy, geartidePolicy, heatPolicy, staticPeakPolicy } from './policies.ts';
import type { SimPolicy, SimSettings } from './simulator.ts';
import { peakDemand, type Trace } from './trace.ts';

export const SIM_POLICY_NAMES = ['geartide', 'static-peak', 'heat', 'cluster-autoscaler'] as const;
export type SimPolicyName = (typeof SIM_POLICY_NAMES)[number];

/** UIDs the simulated district gets when the trace's peak does not fit DISTRICTS_MAX_CAPACITY. */
export const LARGE_DISTRICT_UIDS = 1_000_000;

/** What the cloud and the agents would do: not in broker.conf. */
export interface SimSetupOptions {
  readonly bootDelaySeconds: number;
  /** Most nodes the cloud allows; null: no quota. */
  readonly quota: number | null;
  readonly failureRate: number;
  readonly moveSeconds: number;
  /** Default: every policy, geartide first. */
  readonly policies?: readonly SimPolicyName[];
  readonly seed?: number;
}

export interface SimSetup {
  /** The pool simulated: the first of AUTOSCALE_POOLS. */
  readonly pool: string;
  readonly settings: SimSettings;
  readonly policies: readonly SimPolicy[];
  /** Sentences for the reader: what was adjusted, and why results may surprise. */
  readonly notes: readonly string[];
}

export function simSetup(config: BrokerConfig, trace: Trace, options: SimSetupOptions): SimSetup {
  const pool = config.autoscale.pools[0];
  // parsePools never returns an empty list; a config built by hand might.
  if (pool === undefined) throw new Error('broker config has no autoscale pool');
  const notes: string[] = [];
  if (config.autoscale.pools.length > 1) notes.push(`simulating pool ${pool.name}, the first of AUTOSCALE_POOLS (${config.autoscale.pools.map((each) => each.name).join('; ')})`);

  const peak = peakDemand(trace);
  let districtUids = config.districtsMaxCapacity;
  if (peak > districtUids) {
    // A real pool this large would span several districts; the simulator has one, so it gets
    // the UIDs the trace needs rather than refusing gears for want of UIDs.
    districtUids = Math.max(LARGE_DISTRICT_UIDS, peak);
    notes.push(`the trace's peak of ${peak} active gears exceeds DISTRICTS_MAX_CAPACITY (${config.districtsMaxCapacity} UIDs): the simulated district gets ${districtUids} UIDs (a real pool would span several districts)`);
  }
  const peakNodes = Math.ceil(peak / pool.maxActiveGears);
  if (pool.maxNodes < peakNodes) {
    notes.push(
      `the pool's max (${pool.maxNodes} nodes, AUTOSCALE_MAX_NODES or max= in AUTOSCALE_POOLS) is below the ${peakNodes} nodes of ${pool.maxActiveGears} gears the trace's peak of ${peak} gears needs: expect refusals (static-peak provisions for the peak regardless)`,
    );
  }
  const settings: SimSettings = {
    intervalSeconds: config.autoscale.intervalSeconds,
    maxActiveGears: pool.maxActiveGears,
    minNodes: pool.minNodes,
    maxNodes: pool.maxNodes,
    districtUids,
    appCreateWaitSeconds: config.autoscale.appCreateWaitSeconds,
    drainParallel: config.drainParallel,
    moveSeconds: options.moveSeconds,
    bootDelaySeconds: options.bootDelaySeconds,
    quota: options.quota,
    failureRate: options.failureRate,
    seed: options.seed ?? 1,
  };
  const policies = (options.policies ?? SIM_POLICY_NAMES).map((name): SimPolicy => {
    switch (name) {
      case 'geartide':
        return geartidePolicy(scalePolicy(config.autoscale, pool));
      case 'static-peak':
        return staticPeakPolicy();
      case 'heat':
        return heatPolicy();
      case 'cluster-autoscaler':
        return clusterAutoscalerPolicy();
    }
  });
  return { pool: pool.name, settings, policies, notes };
}

import type { Logger } from 'pino';

import type { DrainGear } from '../core/drain-plan.ts';
import type { PlacementOrder } from '../core/placement.ts';
import { removalCandidates, type ScalePolicy, type ScaleSnapshot } from '../core/scale-plan.ts';
import type { Provider } from '../providers/provider.ts';
import type { Store } from '../store/store.ts';
import type { AutoscaleConfig, PoolConfig } from './broker-config.ts';

/** What the journal holds for a scale-up (operation kind `scale-up`, subject `pool:<name>`). */
export interface ScaleUpData {
  readonly pool: string;
  readonly scaleEventId: string;
  readonly count: number;
  readonly district: string;
  readonly reason: string;
  /** Hosts that have not registered by then are deleted and the scale-up fails. */
  readonly deadlineAt: number;
  /** The hosts the provider accepted (filled in once it has). */
  readonly nodes: readonly string[];
}

/** What the journal holds for a scale-down (operation kind `scale-down`, subject `node:<name>`). */
export interface ScaleDownData {
  readonly pool: string;
  readonly nodeId: string;
  readonly nodeName: string;
  readonly reason: string;
  /** The drain emptying the node, once started. */
  readonly drainId: string | null;
}

export const SCALE_UP = 'scale-up';
export const SCALE_DOWN = 'scale-down';

/** The planner's policy for one pool, from broker.conf. */
export function scalePolicy(config: AutoscaleConfig, pool: PoolConfig): ScalePolicy {
  return {
    pool: pool.name,
    gearProfile: pool.gearProfile,
    district: pool.district,
    minNodes: pool.minNodes,
    maxNodes: pool.maxNodes,
    maxActiveGearsPerNode: pool.maxActiveGears,
    maxNodesPerScaleUp: config.maxNodesPerScaleUp,
    upThresholdPct: config.upThresholdPct,
    downMarginPct: config.downMarginPct,
    unneededTimeMs: config.unneededTimeSeconds * 1000,
    scaleUpCooldownMs: config.scaleUpCooldownSeconds * 1000,
    scaleDownCooldownMs: config.scaleDownCooldownSeconds * 1000,
    delayAfterAddMs: config.delayAfterAddSeconds * 1000,
    // A waiting app create re-records its refusal on every retry, so a refusal stays fresh while
    // someone waits, and fades two passes after the last one gave up.
    unplacedTtlMs: (config.appCreateWaitSeconds + 2 * config.intervalSeconds) * 1000,
    backoffBaseMs: config.backoffInitialSeconds * 1000,
    backoffMaxMs: config.backoffMaxSeconds * 1000,
  };
}

/**
 * How placement ranks a profile's nodes: `packed` (the fullest node with room first) when the
 * autoscaler manages a pool of that profile, so its nodes empty by themselves and leave without
 * moves; `least-loaded` (OpenShift v2's rule) for node hosts the operator manages. A profile has
 * one order for all its districts (a district pool packs its profile's other districts too).
 */
export function placementOrderFor(autoscale: Pick<AutoscaleConfig, 'provider' | 'pools'>, gearProfile: string): PlacementOrder {
  if (autoscale.provider === 'none') return 'least-loaded';
  return autoscale.pools.some((pool) => pool.gearProfile === gearProfile) ? 'packed' : 'least-loaded';
}

/** The pool a gear profile (and district) belongs to, or undefined when no pool manages it. */
export function poolFor(pools: readonly PoolConfig[], gearProfile: string, districtName: string | null): PoolConfig | undefined {
  return pools.find((pool) => pool.gearProfile === gearProfile && (pool.district === null || pool.district === districtName));
}

type SnapshotStore = Pick<Store, 'listNodes' | 'listDistricts' | 'listGears' | 'countGearsByNode' | 'listOperations' | 'getPoolMemory'>;

/**
 * Reads everything `planScale` needs for one pool: its nodes with their gear counts, the
 * districts of its profile, its running scale operations, its memory, and the provider's
 * headroom (null when the provider could not be asked: the plan then does not scale up).
 *
 * Gears themselves are read only for the few nodes a scale-down pass may simulate draining
 * (`removalCandidates`, with the `policy` and `now` the plan will use) and for the apps on them:
 * every node is counted, but a pass over a pool of 10,000 nodes does not read 600,000 gears.
 */
export async function loadScaleSnapshot(store: SnapshotStore, pool: PoolConfig, policy: ScalePolicy, provider: Pick<Provider, 'headroom'>, log: Logger, now: number): Promise<ScaleSnapshot> {
  const districts = (await store.listDistricts()).filter((district) => district.gearProfile === pool.gearProfile);
  const poolDistrictId = pool.district === null ? null : (districts.find((district) => district.name === pool.district)?.id ?? '');
  const nodes = (await store.listNodes({ gearProfile: pool.gearProfile })).filter(
    (node) => node.state !== 'gone' && (poolDistrictId === null || node.districtId === poolDistrictId),
  );
  const nodeIds = new Set(nodes.map((node) => node.id));
  const counts = await store.countGearsByNode([...nodeIds]);

  const running = await store.listOperations({ status: ['running'] });
  const registeredByEvent = new Map<string, number>();
  for (const node of nodes) if (node.scaleEventId !== null) registeredByEvent.set(node.scaleEventId, (registeredByEvent.get(node.scaleEventId) ?? 0) + 1);
  const pendingScaleUps = running
    .filter((operation) => operation.kind === SCALE_UP && (operation.data as unknown as ScaleUpData).pool === pool.name)
    .map((operation) => {
      const data = operation.data as unknown as ScaleUpData;
      return { operationId: operation.id, count: data.count, registered: Math.min(data.count, registeredByEvent.get(data.scaleEventId) ?? 0), requestedAt: operation.createdAt };
    });
  const runningScaleDowns = running
    .filter((operation) => operation.kind === SCALE_DOWN && (operation.data as unknown as ScaleDownData).pool === pool.name)
    .map((operation) => {
      const data = operation.data as unknown as ScaleDownData;
      return { operationId: operation.id, nodeId: data.nodeId, nodeName: data.nodeName, phase: operation.phase, startedAt: operation.createdAt };
    });

  let headroom: ScaleSnapshot['headroom'] = null;
  try {
    headroom = await provider.headroom();
  } catch (error) {
    log.warn({ err: error, pool: pool.name }, 'the provider could not report its headroom');
  }

  const memory = await store.getPoolMemory(pool.name);
  const scaleNodes = nodes.map((node) => ({
    id: node.id,
    name: node.name,
    districtId: node.districtId,
    state: node.state,
    maxActiveGears: node.maxActiveGears,
    activeGears: node.activeGears,
    gears: counts.get(node.id) ?? 0,
    createdAt: node.createdAt,
  }));

  // The gears of the candidates for removal, and where the apps on them have their other gears
  // in the pool (the drain planner's spread rule).
  const candidates = removalCandidates({ nodes: scaleNodes, pendingScaleUps, memory }, policy, now).filter((node) => node.gears > 0);
  const gearsByNode = new Map<string, DrainGear[]>();
  const onCandidates = await store.listGears({ nodeIds: candidates.map((node) => node.id) });
  for (const gear of onCandidates) {
    let list = gearsByNode.get(gear.nodeId);
    if (list === undefined) gearsByNode.set(gear.nodeId, (list = []));
    list.push({ id: gear.id, appId: gear.appId, active: gear.desiredState === 'started' });
  }
  const gearsByApp = new Map<string, Map<string, number>>();
  for (const gear of await store.listGears({ appIds: [...new Set(onCandidates.map((gear) => gear.appId))] })) {
    if (!nodeIds.has(gear.nodeId)) continue;
    let perNode = gearsByApp.get(gear.appId);
    if (perNode === undefined) gearsByApp.set(gear.appId, (perNode = new Map()));
    perNode.set(gear.nodeId, (perNode.get(gear.nodeId) ?? 0) + 1);
  }

  return {
    nodes: scaleNodes,
    districts: districts.map((district) => ({ id: district.id, name: district.name, gearProfile: district.gearProfile, availableUids: district.availableUids })),
    pendingScaleUps,
    runningScaleDowns,
    headroom,
    gearsOnNode: (nodeId) => gearsByNode.get(nodeId) ?? [],
    gearsByApp,
    memory,
  };
}

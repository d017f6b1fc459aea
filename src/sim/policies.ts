/**
 * The policies the simulator compares. geartide's is the broker's `planScale` itself, fed the
 * snapshot the broker would read; the baselines are small models of other autoscalers, labelled
 * as such, written from their documented behaviour (not from their code):
 *
 *   static-peak         as many nodes as the trace's peak needs, all the time.
 *   heat                Heat + Aodh threshold alarms (OS::Heat::ScalingPolicy, change_in_capacity
 *                       ±1): average usage ≥ 80 % over a 60 s period adds a node, ≤ 40 % removes
 *                       one, 300 s cooldown after either; it removes the newest member (LIFO), so
 *                       that node's gears are moved first.
 *   cluster-autoscaler  Kubernetes cluster-autoscaler: adds nodes when gears are pending (enough
 *                       for them), removes a node under 50 % utilisation for 10 minutes, not
 *                       within 10 minutes of an add, whose gears fit elsewhere (empty nodes
 *                       first), one at a time.
 *
 * And one reference that is not a product: `consolidation`, a model of the tightest reactive
 * policy (no spare capacity kept ahead of demand, nodes removed as soon as the rest hold it).
 * bench/efficiency and `geartide sim --reference` run it (`referencePolicies`) to show what
 * approaching the lower bound costs in moves and waiting app creates on a trace; it is not in
 * `geartide sim`'s default list.
 */
import { planScale, type ScalePolicy } from '../core/scale-plan.ts';
import type { SimDecision, SimPolicy, SimSettings, SimView } from './simulator.ts';
import type { SimNode } from './sim-cluster.ts';
import { SIM_DISTRICT, SIM_PROFILE } from './sim-cluster.ts';
import { peakDemand } from './trace.ts';

/** geartide: `planScale` with the policy broker.conf gives the pool. */
export function geartidePolicy(policy: ScalePolicy): SimPolicy {
  return {
    name: 'geartide',
    label: `geartide's planScale (SCALE_UP_THRESHOLD ${policy.upThresholdPct} %, margin ${policy.downMarginPct}, unneeded ${policy.unneededTimeMs / 1000} s), packed placement`,
    // The broker packs the gears of a pool it autoscales (placementOrderFor).
    placementOrder: 'packed',
    decide(view: SimView): SimDecision {
      const { cluster } = view;
      const plan = planScale(
        {
          nodes: cluster.scaleNodes(),
          districts: [{ id: SIM_DISTRICT, name: SIM_DISTRICT, gearProfile: SIM_PROFILE, availableUids: cluster.availableUids() }],
          pendingScaleUps: view.pending.map((request) => ({ operationId: String(request.id), count: request.count, registered: request.registered, requestedAt: request.requestedAt })),
          runningScaleDowns: view.drains.map((drain) => ({ operationId: String(drain.id), nodeId: drain.node.id, nodeName: drain.node.name, phase: drain.phase, startedAt: drain.startedAt })),
          headroom: { nodes: view.headroom },
          gearsOnNode: (nodeId) => cluster.gearsOn(nodeId),
          gearsByApp: cluster.gearsByApp,
          memory: view.memory,
        },
        policy,
        view.now,
      );
      switch (plan.kind) {
        case 'scale-up':
          return { kind: 'scale-up', count: plan.count, reason: plan.reason, memory: plan.memory };
        case 'scale-down':
          return { kind: 'scale-down', nodeId: plan.nodeId, step: plan.step, reason: plan.reason, memory: plan.memory };
        case 'cancel-drain':
          return { kind: 'cancel-drain', nodeId: plan.nodeId, reason: plan.reason, memory: plan.memory };
        default:
          return { kind: 'none', reason: plan.reason, memory: plan.memory };
      }
    },
  };
}

export function staticPeakPolicy(): SimPolicy {
  return {
    name: 'static-peak',
    label: 'model: static provisioning for the trace\'s peak (no autoscaling)',
    initialNodes: (trace, settings: SimSettings) => Math.max(settings.minNodes, Math.ceil(peakDemand(trace) / settings.maxActiveGears)),
    decide: () => ({ kind: 'none', reason: 'static' }),
  };
}

export interface HeatModelOptions {
  readonly upPct?: number;
  readonly downPct?: number;
  readonly periodSeconds?: number;
  readonly cooldownSeconds?: number;
}

export function heatPolicy(options: HeatModelOptions = {}): SimPolicy {
  const up = (options.upPct ?? 80) / 100;
  const down = (options.downPct ?? 40) / 100;
  const period = options.periodSeconds ?? 60;
  const cooldown = options.cooldownSeconds ?? 300;
  // The simulator's clock counts milliseconds.
  const periodMs = period * 1000;
  const cooldownMs = cooldown * 1000;
  let samples: { time: number; usage: number }[] = [];
  let lastActionAt = -Infinity;
  return {
    name: 'heat',
    label: `model: Heat + Aodh threshold alarms (≥ ${up * 100} % adds 1, ≤ ${down * 100} % removes the newest, ${period} s period, ${cooldown} s cooldown)`,
    decide(view) {
      const { active, capacity } = usage(view);
      samples.push({ time: view.now, usage: capacity === 0 ? 1 : active / capacity });
      samples = samples.filter((sample) => sample.time > view.now - periodMs);
      if (view.now < lastActionAt + cooldownMs || view.drains.length > 0 || view.pending.length > 0) return { kind: 'none', reason: 'cooldown or an action in progress' };
      const average = samples.reduce((sum, sample) => sum + sample.usage, 0) / samples.length;
      const size = view.cluster.size;
      if (average >= up && size < view.settings.maxNodes) {
        lastActionAt = view.now;
        return { kind: 'scale-up', count: 1, reason: `alarm: average usage ${(average * 100).toFixed(0)} % ≥ ${up * 100} %` };
      }
      if (average <= down && size > view.settings.minNodes) {
        // Heat's ResourceGroup removes the newest member unless told which: LIFO.
        const newest = [...view.cluster.nodes.values()].filter((node) => node.state === 'active').sort((a, b) => b.requestedAt - a.requestedAt || b.id.localeCompare(a.id))[0];
        if (newest && fitsElsewhere(view, newest)) {
          lastActionAt = view.now;
          return { kind: 'scale-down', nodeId: newest.id, reason: `alarm: average usage ${(average * 100).toFixed(0)} % ≤ ${down * 100} %: remove the newest node` };
        }
      }
      return { kind: 'none', reason: 'no alarm' };
    },
  };
}

export interface ClusterAutoscalerModelOptions {
  readonly utilizationPct?: number;
  readonly unneededSeconds?: number;
  readonly delayAfterAddSeconds?: number;
}

export function clusterAutoscalerPolicy(options: ClusterAutoscalerModelOptions = {}): SimPolicy {
  const threshold = (options.utilizationPct ?? 50) / 100;
  const unneeded = options.unneededSeconds ?? 600;
  const delayAfterAdd = options.delayAfterAddSeconds ?? 600;
  const underSince = new Map<string, number>();
  let lastAddAt = -Infinity;
  return {
    name: 'cluster-autoscaler',
    label: `model: cluster-autoscaler (adds for pending gears, removes a node under ${threshold * 100} % for ${unneeded} s, ${delayAfterAdd} s after an add)`,
    decide(view) {
      const { cluster, settings } = view;
      // Scale-up only for pending (waiting) gears, as many nodes as they need beyond those coming.
      if (view.waitingGears > 0) {
        const coming = view.pending.reduce((sum, request) => sum + request.count - request.registered, 0);
        const needed = Math.ceil(view.waitingGears / settings.maxActiveGears) - coming;
        const room = Math.min(settings.maxNodes - cluster.size, view.headroom ?? Infinity);
        if (needed > 0 && room > 0) {
          lastAddAt = view.now;
          return { kind: 'scale-up', count: Math.min(needed, room), reason: `${view.waitingGears} gear(s) pending` };
        }
      }
      const candidates: SimNode[] = [];
      for (const node of cluster.nodes.values()) {
        if (node.state !== 'active') {
          underSince.delete(node.id);
          continue;
        }
        if (node.gears.size / node.maxActiveGears < threshold) {
          if (!underSince.has(node.id)) underSince.set(node.id, view.now);
          if (view.now - underSince.get(node.id)! >= unneeded * 1000) candidates.push(node);
        } else underSince.delete(node.id);
      }
      for (const id of underSince.keys()) if (!cluster.nodes.has(id)) underSince.delete(id);
      if (view.drains.length > 0 || view.now < lastAddAt + delayAfterAdd * 1000 || cluster.size <= settings.minNodes) return { kind: 'none', reason: 'no scale-down now' };
      candidates.sort((a, b) => a.gears.size - b.gears.size || a.requestedAt - b.requestedAt);
      const chosen = candidates.find((node) => fitsElsewhere(view, node));
      if (chosen) {
        underSince.delete(chosen.id);
        return { kind: 'scale-down', nodeId: chosen.id, reason: `${chosen.name} under ${threshold * 100} % for ${unneeded} s` };
      }
      return { kind: 'none', reason: 'no node unneeded' };
    },
  };
}

export interface ConsolidationModelOptions {
  /** Spare capacity kept after a removal, as a share of demand (0.05: the rest hold demand × 1.05). */
  readonly headroom: number;
  /** Seconds a cordoned node waits to empty by itself before what is left on it is moved (0: at once). */
  readonly moveAfterSeconds: number;
}

/**
 * Model: the tightest reactive policy. It keeps no spare capacity ahead of demand — nodes are
 * added only for gears that wait, as many as they need (a cordoned node is re-activated first
 * when its room covers them) — and it cordons the emptiest active node whenever the others would
 * still hold demand × (1 + headroom). A cordoned node goes as soon as it is empty, or after
 * `moveAfterSeconds` with its gears moved. With a small headroom and no wait it tracks the lower
 * bound as closely as a 1-node step allows; what that costs shows in its moves and in the app
 * creates that waited for a node.
 */
export function consolidationPolicy(options: ConsolidationModelOptions): SimPolicy {
  const { headroom, moveAfterSeconds } = options;
  if (!(headroom >= 0) || !(moveAfterSeconds >= 0)) throw new Error(`consolidation model: headroom and moveAfterSeconds must be ≥ 0, got ${headroom} and ${moveAfterSeconds}`);
  const percent = Math.round(headroom * 100);
  return {
    name: `consolidation ${percent}%/${moveAfterSeconds}s`,
    label: `model: reactive consolidation (nodes only for waiting gears; cordons the emptiest node while the rest hold demand + ${percent} %; moves what is left after ${moveAfterSeconds} s)`,
    placementOrder: 'packed',
    decide(view) {
      const { cluster, settings } = view;
      const perNode = settings.maxActiveGears;
      const active: SimNode[] = [];
      let placed = 0;
      for (const node of cluster.nodes.values()) {
        if (node.state !== 'active') continue;
        active.push(node);
        placed += node.gears.size;
      }
      const cordoned = view.drains.filter((drain) => drain.phase === 'cordoned');
      if (view.waitingGears > 0) {
        // Room first from nodes already paid for: the cordoned ones with the most room, as many
        // as can be re-activated (one per pass) well within an app create's wait; then new nodes
        // for what they and the nodes on their way cannot hold.
        const reachable = Math.max(1, Math.floor(settings.appCreateWaitSeconds / settings.intervalSeconds / 2));
        const roomiest = [...cordoned].sort((a, b) => a.node.gears.size - b.node.gears.size || a.node.id.localeCompare(b.node.id)).slice(0, reachable);
        const cordonedRoom = roomiest.reduce((sum, drain) => sum + drain.node.maxActiveGears - drain.node.gears.size, 0);
        const coming = view.pending.reduce((sum, request) => sum + request.count - request.registered, 0);
        const needed = Math.ceil((view.waitingGears - cordonedRoom) / perNode) - coming;
        const room = Math.min(settings.maxNodes - cluster.size, view.headroom ?? Infinity);
        if (needed > 0 && room > 0) return { kind: 'scale-up', count: Math.min(needed, room), reason: `${view.waitingGears} gear(s) wait` };
        const first = roomiest[0];
        if (first !== undefined) return { kind: 'cancel-drain', nodeId: first.node.id, reason: `${view.waitingGears} gear(s) wait: re-activate ${first.node.name}` };
        return { kind: 'none', reason: 'waiting for the nodes asked for' };
      }
      const free = active.reduce((sum, node) => sum + node.maxActiveGears - node.gears.size, 0);
      for (const drain of cordoned) {
        const due = drain.node.gears.size === 0 || view.now - drain.startedAt >= moveAfterSeconds * 1000;
        if (due && drain.node.gears.size <= free) return { kind: 'scale-down', step: 'drain', nodeId: drain.node.id, reason: `${drain.node.name}: cordoned for ${moveAfterSeconds} s or empty` };
      }
      const capacity = active.length * perNode;
      if (active.length > settings.minNodes && capacity - perNode >= placed * (1 + headroom)) {
        const emptiest = [...active].sort((a, b) => a.gears.size - b.gears.size || a.requestedAt - b.requestedAt)[0]!;
        return { kind: 'scale-down', step: 'cordon', nodeId: emptiest.id, reason: `the other nodes hold demand + ${percent} %: cordon ${emptiest.name}` };
      }
      return { kind: 'none', reason: 'no node to spare' };
    },
  };
}

/**
 * The reference runs of `bench:efficiency` and `geartide sim --reference`: the consolidation
 * model keeping 5 % and 20 % over demand, moving at once — how close to the lower bound a policy
 * can get on a trace, and what that costs in moves and waiting creates.
 */
export function referencePolicies(): SimPolicy[] {
  return [0.05, 0.2].map((headroom) => consolidationPolicy({ headroom, moveAfterSeconds: 0 }));
}

function usage(view: SimView): { active: number; capacity: number } {
  let active = 0;
  let capacity = 0;
  for (const node of view.cluster.nodes.values()) {
    if (node.state !== 'active') continue;
    active += node.gears.size;
    capacity += node.maxActiveGears;
  }
  return { active, capacity };
}

/** Whether the node's gears fit on the other active nodes' free slots. */
function fitsElsewhere(view: SimView, leaving: SimNode): boolean {
  let free = 0;
  for (const node of view.cluster.nodes.values()) if (node !== leaving && node.state === 'active') free += Math.max(0, node.maxActiveGears - node.gears.size);
  return leaving.gears.size <= free;
}

/**
 * The trace-driven simulator: replays a trace's app arrivals and departures against a simulated
 * pool, on a virtual clock, asking a policy every AUTOSCALE_INTERVAL what to do. geartide's
 * policy is the broker's own `planScale`; placement and drains are the broker's planners. What
 * is simulated is only what the cloud and the node agents would do: a requested node registers
 * `bootDelay` seconds later (or the request fails, at `failureRate`), a drain moves DRAIN_PARALLELISM
 * gears every `moveSeconds`, a deleted node is gone at once, the cloud's quota is `quota` nodes.
 *
 * The engine carries a plan out as the broker's executors do, and keeps the pool's memory as
 * they do (lastScaleUpAt when a scale-up is asked for, failures and backoff, lastScaleDownAt
 * when a node is deleted). An app that finds no room waits up to APP_CREATE_WAIT, re-recording
 * its refusal as the broker's capacity gate does, and is refused after that — or at once while
 * the pool is exhausted or at its max, as the gate refuses.
 *
 * An app that waited and was placed runs for its whole duration from then on (it departs at
 * placement + (departure − arrival)): the broker answered its create late, it did not shorten
 * its life, and a batch task that starts late ends late. So a delayed app is charged the
 * node-hours it really takes, and an app is refused only when the broker refuses it (its wait
 * ran out), not because the trace's end time for it passed while it waited.
 */
import { afterScaleFailure, afterScaleSuccess, EMPTY_POOL_MEMORY, type PoolMemory } from '../core/scale-plan.ts';
import type { PlacementOrder } from '../core/placement.ts';
import { seededRandom } from '../core/seeded-random.ts';
import { SimCluster, SIM_DISTRICT, type SimNode } from './sim-cluster.ts';
import { demandCurve, lowerBoundNodeHours, type Trace, type TraceApp } from './trace.ts';

export interface SimSettings {
  readonly intervalSeconds: number;
  readonly maxActiveGears: number;
  readonly minNodes: number;
  readonly maxNodes: number;
  readonly districtUids: number;
  readonly appCreateWaitSeconds: number;
  readonly drainParallel: number;
  /** Seconds one gear move takes (measured ~0.8 s on real agents: bench/drain). */
  readonly moveSeconds: number;
  readonly bootDelaySeconds: number;
  /** Most nodes the cloud allows; null: no quota. */
  readonly quota: number | null;
  /** Probability that a scale-up request fails (seeded). */
  readonly failureRate: number;
  readonly seed: number;
  /** Nodes registered when the trace starts (default: minNodes). */
  readonly initialNodes?: number;
}

export interface PendingRequest {
  readonly id: number;
  readonly count: number;
  registered: number;
  readonly requestedAt: number;
}

export interface RunningDrain {
  readonly id: number;
  readonly node: SimNode;
  /** When the scale-down began (the cordon, for geartide). */
  readonly startedAt: number;
  /** `cordoned`: out of placement, nothing moves yet; `draining`: gears move from `drainingAt`. */
  phase: 'cordoned' | 'draining';
  drainingAt: number;
  moved: number;
}

/** What a policy sees each tick (read-only by convention). */
export interface SimView {
  readonly now: number;
  readonly settings: SimSettings;
  readonly cluster: SimCluster;
  readonly pending: readonly PendingRequest[];
  /** Scale-downs under way (geartide runs several at once; the baseline models one). */
  readonly drains: readonly RunningDrain[];
  /** The pool's memory, as the broker keeps it (geartide's policy plans from it). */
  readonly memory: PoolMemory;
  /** Nodes the cloud has room for; null: no quota. */
  readonly headroom: number | null;
  /** Gears of apps waiting for room. */
  readonly waitingGears: number;
}

export type SimDecision =
  | { readonly kind: 'scale-up'; readonly count: number; readonly reason: string; readonly memory?: PoolMemory }
  /** `step` cordon: out of placement only, drained on a later `drain` decision; absent: drain at once. */
  | { readonly kind: 'scale-down'; readonly nodeId: string; readonly step?: 'cordon' | 'drain'; readonly reason: string; readonly memory?: PoolMemory }
  | { readonly kind: 'cancel-drain'; readonly nodeId: string; readonly reason: string; readonly memory?: PoolMemory }
  | { readonly kind: 'none'; readonly reason: string; readonly memory?: PoolMemory };

export interface SimPolicy {
  /** Short name for tables: `geartide`, `static-peak`, `heat`, `cluster-autoscaler`. */
  readonly name: string;
  /** What it is, in a sentence; baselines say they are models of a policy. */
  readonly label: string;
  /**
   * How placement ranks nodes under this policy: geartide packs an autoscaled pool; the models
   * of other autoscalers place as their platforms do by default (least loaded: OpenShift v2's
   * broker, kube-scheduler's LeastAllocated). Default `least-loaded`.
   */
  readonly placementOrder?: PlacementOrder;
  /** Nodes registered at the start, instead of the pool's min (static provisioning). */
  initialNodes?(trace: Trace, settings: SimSettings): number;
  decide(view: SimView): SimDecision;
}

export interface SimEvent {
  /** Seconds since the trace's start. */
  readonly time: number;
  readonly kind: 'scale-up' | 'scale-up-failed' | 'node-ready' | 'scale-down' | 'node-deleted' | 'drain-failed' | 'cancel-drain' | 'exhausted' | 'recovered';
  readonly detail: string;
}

export interface TimelinePoint {
  readonly time: number;
  /** Active gears the trace asks for now (placed and waiting). */
  readonly demand: number;
  readonly placed: number;
  /** max_active_gears summed over registered nodes. */
  readonly capacity: number;
  /** Nodes paid for: provisioning, active and draining. */
  readonly nodes: number;
  readonly provisioning: number;
}

export interface SimResult {
  readonly policy: string;
  readonly label: string;
  readonly trace: string;
  readonly mapping: string;
  readonly durationHours: number;
  readonly nodeHours: number;
  readonly lowerBoundNodeHours: number;
  readonly ratio: number;
  readonly apps: number;
  readonly placementsRefused: number;
  readonly placementsDelayed: number;
  readonly totalDelaySeconds: number;
  readonly moves: number;
  readonly scaleUps: number;
  readonly nodesAdded: number;
  /** Scale-downs begun (cordoned or drained); `cancelledDrains` of them were called off. */
  readonly scaleDowns: number;
  readonly cancelledDrains: number;
  readonly failedScaleUps: number;
  readonly peakNodes: number;
  readonly exhaustedHours: number;
  readonly events: readonly SimEvent[];
  readonly timeline: readonly TimelinePoint[];
}

interface WaitingApp {
  readonly app: TraceApp;
  readonly deadline: number;
}

/** How many timeline points a run keeps at most (the plot needs no more). */
const TIMELINE_POINTS = 2000;

export function simulate(sourceTrace: Trace, policy: SimPolicy, settings: SimSettings): SimResult {
  // The virtual clock counts milliseconds, as the broker's does (the planner's times are ms);
  // traces and settings speak seconds.
  const trace: Trace = { ...sourceTrace, start: sourceTrace.start * 1000, end: sourceTrace.end * 1000, apps: sourceTrace.apps.map((app) => ({ ...app, arrival: app.arrival * 1000, departure: app.departure * 1000 })) };
  const intervalMs = settings.intervalSeconds * 1000;
  const moveMs = settings.moveSeconds * 1000;
  const cluster = new SimCluster(settings.maxActiveGears, settings.districtUids, policy.placementOrder ?? 'least-loaded');
  const random = seededRandom(settings.seed);
  const start = trace.start;
  const end = trace.end;
  const initial = policy.initialNodes?.(trace, settings) ?? settings.initialNodes ?? settings.minNodes;
  for (let index = 0; index < initial; index++) cluster.addNode(start, true);

  // Departures and arrivals in time order; at the same instant departures first (room first).
  const departures = [...trace.apps].sort((a, b) => a.departure - b.departure);
  const arrivals = trace.apps; // sorted by arrival
  let nextArrival = 0;
  let nextDeparture = 0;
  const waiting: WaitingApp[] = [];
  const placed = new Set<string>();
  const gone = new Set<string>();
  const pending: PendingRequest[] = [];
  /** Apps placed after a wait: they depart their duration after placement (sorted by `at`). */
  const lateDepartures: { at: number; app: TraceApp }[] = [];
  const late = new Set<string>();
  const boots: { at: number; node: SimNode; request: PendingRequest | null }[] = [];
  const drains: RunningDrain[] = [];
  let memory: PoolMemory = EMPTY_POOL_MEMORY;
  let requestId = 0;
  const events: SimEvent[] = [];
  const counters = { refused: 0, delayed: 0, delaySeconds: 0, moves: 0, scaleUps: 0, nodesAdded: 0, scaleDowns: 0, cancelled: 0, failedUps: 0 };
  let exhaustedSince: number | null = null;
  let exhaustedSeconds = 0;
  let waitingGears = 0;

  const curve = demandCurve(trace);
  let curveIndex = 0;
  const timeline: TimelinePoint[] = [];
  const sampleEvery = Math.max(intervalMs, Math.ceil((end - start) / TIMELINE_POINTS));
  let nextSample = start;

  const headroom = () => (settings.quota === null ? null : Math.max(0, settings.quota - cluster.size));
  const atMax = () => cluster.size >= settings.maxNodes && pending.length === 0;
  const fail = (reason: string, now: number, exhausted: boolean) => {
    memory = afterScaleFailure(memory, reason, exhausted, now);
  };

  /** Try the waiting apps again, oldest first (each one all or nothing). */
  const retryWaiting = (now: number) => {
    for (let index = 0; index < waiting.length; ) {
      const entry = waiting[index]!;
      if (cluster.placeApp(entry.app.id, entry.app.gears)) {
        waiting.splice(index, 1);
        waitingGears -= entry.app.gears;
        placed.add(entry.app.id);
        scheduleLateDeparture(entry.app, now);
        counters.delayed += 1;
        counters.delaySeconds += now - entry.app.arrival;
      } else index++;
    }
  };

  const arrive = (app: TraceApp, now: number) => {
    if (cluster.placeApp(app.id, app.gears)) {
      placed.add(app.id);
      return;
    }
    // The capacity gate: no node is coming when the cloud is exhausted or the pool at its max.
    if (memory.exhausted !== null || atMax()) {
      counters.refused += 1;
      return;
    }
    waiting.push({ app, deadline: now + settings.appCreateWaitSeconds * 1000 });
    waitingGears += app.gears;
    memory = { ...memory, unplaced: { gears: waitingGears, district: null, at: now } };
  };

  const scheduleLateDeparture = (app: TraceApp, placedAt: number) => {
    const at = placedAt + (app.departure - app.arrival);
    late.add(app.id);
    // Binary search: the list stays sorted by time (ties: in placement order).
    let low = 0;
    let high = lateDepartures.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (lateDepartures[middle]!.at <= at) low = middle + 1;
      else high = middle;
    }
    lateDepartures.splice(low, 0, { at, app });
  };

  /** The trace's departure of an app; one placed late departs later, one still waiting waits on. */
  const depart = (app: TraceApp) => {
    gone.add(app.id);
    if (late.has(app.id)) return;
    if (placed.delete(app.id)) cluster.removeApp(app.id);
  };

  const departLate = (app: TraceApp) => {
    late.delete(app.id);
    if (placed.delete(app.id)) cluster.removeApp(app.id);
  };

  const register = (boot: (typeof boots)[number], now: number) => {
    cluster.register(boot.node, now);
    events.push({ time: (now - start) / 1000, kind: 'node-ready', detail: boot.node.name });
    if (boot.request) {
      boot.request.registered += 1;
      if (boot.request.registered >= boot.request.count) {
        pending.splice(pending.indexOf(boot.request), 1);
        memory = afterScaleSuccess(memory);
      }
    }
    retryWaiting(now);
  };

  /** Events (trace and boots) up to `until`, in time order. */
  const advanceTo = (until: number) => {
    for (;;) {
      const arrival = nextArrival < arrivals.length ? arrivals[nextArrival]!.arrival : Infinity;
      const departure = nextDeparture < departures.length ? departures[nextDeparture]!.departure : Infinity;
      const lateDeparture = lateDepartures.length > 0 ? lateDepartures[0]!.at : Infinity;
      boots.sort((a, b) => a.at - b.at);
      const boot = boots.length > 0 ? boots[0]!.at : Infinity;
      const next = Math.min(arrival, departure, lateDeparture, boot);
      if (next > until) return;
      if (lateDeparture === next) {
        departLate(lateDepartures.shift()!.app);
        if (waiting.length > 0) retryWaiting(next);
      } else if (departure === next) {
        const app = departures[nextDeparture++]!;
        depart(app);
        if (waiting.length > 0) retryWaiting(next);
      } else if (boot === next) {
        register(boots.shift()!, next);
      } else {
        const app = arrivals[nextArrival++]!;
        if (!gone.has(app.id)) arrive(app, next);
      }
    }
  };

  const progressDrains = (now: number) => {
    for (const drain of [...drains]) progressDrain(drain, now);
  };
  const endDrain = (drain: RunningDrain) => {
    drains.splice(drains.indexOf(drain), 1);
  };
  const progressDrain = (drain: RunningDrain, now: number) => {
    if (drain.phase !== 'draining') return;
    const due = Math.floor((now - drain.drainingAt) / moveMs) * settings.drainParallel;
    const node = drain.node;
    for (const gearId of [...node.gears.keys()]) {
      if (drain.moved >= due) break;
      if (!cluster.moveGear(gearId, node)) {
        events.push({ time: (now - start) / 1000, kind: 'drain-failed', detail: `${node.name}: a gear fits nowhere else` });
        cluster.setState(node, 'active');
        fail(`drain of ${node.name} failed: a gear fits nowhere else`, now, false);
        endDrain(drain);
        return;
      }
      drain.moved += 1;
      counters.moves += 1;
    }
    if (node.gears.size === 0) {
      cluster.deleteNode(node, now);
      events.push({ time: (now - start) / 1000, kind: 'node-deleted', detail: node.name });
      memory = { ...afterScaleSuccess(memory), lastScaleDownAt: now };
      endDrain(drain);
    }
  };

  const act = (now: number) => {
    const view: SimView = { now, settings, cluster, pending, drains, memory, headroom: headroom(), waitingGears };
    const decision = policy.decide(view);
    if (decision.memory) memory = decision.memory;
    if (decision.kind === 'scale-up') {
      memory = { ...memory, lastScaleUpAt: now };
      counters.scaleUps += 1;
      const room = headroom();
      if (room !== null && decision.count > room) {
        // The cloud refuses the request (a quota race the planner could not see).
        counters.failedUps += 1;
        fail(`quota: ${settings.quota} nodes`, now, true);
        events.push({ time: (now - start) / 1000, kind: 'scale-up-failed', detail: `${decision.count} node(s): over quota` });
        return;
      }
      if (settings.failureRate > 0 && random() < settings.failureRate) {
        counters.failedUps += 1;
        fail('the cloud failed the request', now, false);
        events.push({ time: (now - start) / 1000, kind: 'scale-up-failed', detail: `${decision.count} node(s): failed` });
        return;
      }
      const request: PendingRequest = { id: ++requestId, count: decision.count, registered: 0, requestedAt: now };
      pending.push(request);
      counters.nodesAdded += decision.count;
      for (let index = 0; index < decision.count; index++) boots.push({ at: now + settings.bootDelaySeconds * 1000, node: cluster.addNode(now, false), request });
      events.push({ time: (now - start) / 1000, kind: 'scale-up', detail: `${decision.count} node(s): ${decision.reason}` });
    } else if (decision.kind === 'scale-down' && decision.step === 'drain') {
      const drain = drains.find((each) => each.node.id === decision.nodeId);
      if (drain === undefined || drain.phase !== 'cordoned') return;
      drain.phase = 'draining';
      drain.drainingAt = now;
      progressDrain(drain, now);
    } else if (decision.kind === 'scale-down') {
      const node = cluster.nodes.get(decision.nodeId);
      if (!node || node.state !== 'active') return;
      cluster.setState(node, 'draining');
      const cordon = decision.step === 'cordon';
      const drain: RunningDrain = { id: ++requestId, node, startedAt: now, phase: cordon ? 'cordoned' : 'draining', drainingAt: now, moved: 0 };
      drains.push(drain);
      counters.scaleDowns += 1;
      events.push({ time: (now - start) / 1000, kind: 'scale-down', detail: `${node.name}: ${decision.reason}` });
      progressDrain(drain, now);
    } else if (decision.kind === 'cancel-drain') {
      const drain = drains.find((each) => each.node.id === decision.nodeId);
      if (drain === undefined) return;
      cluster.setState(drain.node, 'active');
      events.push({ time: (now - start) / 1000, kind: 'cancel-drain', detail: `${drain.node.name}: ${decision.reason}` });
      counters.cancelled += 1;
      endDrain(drain);
      retryWaiting(now);
    }
  };

  const sample = (now: number) => {
    while (curveIndex + 1 < curve.length && curve[curveIndex + 1]!.time <= now) curveIndex++;
    const demand = curve.length > 0 && curve[0]!.time <= now ? curve[curveIndex]!.gears : 0;
    let capacity = 0;
    let provisioning = 0;
    for (const node of cluster.nodes.values()) {
      if (node.state === 'provisioning') provisioning++;
      else if (node.state === 'active') capacity += node.maxActiveGears;
    }
    timeline.push({ time: (now - start) / 1000, demand, placed: cluster.gearCount, capacity, nodes: cluster.size, provisioning });
  };

  for (let now = start; now <= end; now += intervalMs) {
    advanceTo(now);
    progressDrains(now);
    // Apps whose wait is over are refused (the broker answers 503 capacity_pending).
    for (let index = 0; index < waiting.length; ) {
      if (waiting[index]!.deadline <= now) {
        waitingGears -= waiting[index]!.app.gears;
        waiting.splice(index, 1);
        counters.refused += 1;
      } else index++;
    }
    if (waiting.length > 0) {
      retryWaiting(now);
      // A waiting request re-records its refusal on each retry (the capacity gate).
      if (waitingGears > 0) memory = { ...memory, unplaced: { gears: waitingGears, district: null, at: now } };
    }
    const wasExhausted = memory.exhausted !== null;
    act(now);
    const isExhausted = memory.exhausted !== null;
    if (isExhausted && !wasExhausted) events.push({ time: (now - start) / 1000, kind: 'exhausted', detail: memory.exhausted!.reason });
    if (!isExhausted && wasExhausted) events.push({ time: (now - start) / 1000, kind: 'recovered', detail: '' });
    if (isExhausted) exhaustedSince ??= now;
    else if (exhaustedSince !== null) {
      exhaustedSeconds += now - exhaustedSince;
      exhaustedSince = null;
    }
    if (now >= nextSample) {
      sample(now);
      nextSample += sampleEvery;
    }
  }
  if (exhaustedSince !== null) exhaustedSeconds += end - exhaustedSince;

  const nodeHours = cluster.nodeHours(end) / 1000;
  const bound = lowerBoundNodeHours(sourceTrace, settings.maxActiveGears);
  return {
    policy: policy.name,
    label: policy.label,
    trace: trace.name,
    mapping: trace.mapping,
    durationHours: (end - start) / 3_600_000,
    nodeHours,
    lowerBoundNodeHours: bound,
    ratio: bound > 0 ? nodeHours / bound : Infinity,
    apps: trace.apps.length,
    placementsRefused: counters.refused,
    placementsDelayed: counters.delayed,
    totalDelaySeconds: counters.delaySeconds / 1000,
    moves: counters.moves,
    scaleUps: counters.scaleUps,
    nodesAdded: counters.nodesAdded,
    scaleDowns: counters.scaleDowns,
    cancelledDrains: counters.cancelled,
    failedScaleUps: counters.failedUps,
    peakNodes: cluster.peakNodes,
    exhaustedHours: exhaustedSeconds / 3_600_000,
    events,
    timeline,
  };
}

export { SIM_DISTRICT };

/**
 * The autoscaler's planner: what one pool of node hosts should do now, and why. Pure: it reads a
 * snapshot and `now` and returns a frozen plan; the autoscaler's executors carry it out, the dry
 * run (`geartide admin autoscaler plan`) prints it, events record it, and the simulator replays it.
 *
 * A pool is the node hosts of one gear profile (optionally of one district). Capacity is counted
 * in active gears (OpenShift v2): usage = Σ active / Σ max_active_gears over the pool's
 * schedulable nodes (active, in a district). Gears that could not be placed count as demand.
 *
 * The decision, in order (the first that applies wins):
 *
 *   paused ───────────────────────────────────────────────▶ wait
 *   demand back while scale-downs drain nodes ────────────▶ cancel-drain (re-activate one: cheaper
 *                                                           than a new host, and it is warm)
 *   usage ≥ up-threshold, refused placements, or < min ───▶ scale-up (count computed), unless
 *        nodes already provisioning cover it ─────────────▶ wait
 *        at max / cloud without headroom (exhausted) ─────▶ wait (exhausted: with the cloud's reason)
 *        cooldown / backoff after failures ───────────────▶ wait
 *   a node cordoned for SCALE_DOWN_UNNEEDED_TIME, or
 *        empty after the pool's under-use lasted that
 *        long (a node with gears: only while usage
 *        without it stays ≤ up − margin) ─────────────────▶ scale-down, step drain (move what
 *                                                           is left, then delete it)
 *   within the disruption budget, removing the cheapest
 *        node keeps usage ≤ up − margin, after the delays ▶ scale-down, step cordon (that node
 *                                                           takes no new gears; reversible)
 *   otherwise ────────────────────────────────────────────▶ noop / wait
 *
 * Hysteresis keeps a pool from flapping: scale-up at ≥ up-threshold, scale-down only when the
 * usage *after* removing a node stays ≤ up-threshold − margin, and only once the node has been
 * cordoned for the unneeded time (demand back to the up-threshold meanwhile re-activates it).
 * Moves stay few because an autoscaled pool's placement packs (placement.ts): new gears go to the
 * fullest node with room, so the cheapest node to remove gets none and empties as its apps end;
 * cordoned, it gets none at all, and only what is left after the unneeded time is moved. Several
 * nodes may be on their way out at once, up to the disruption budget, so the pool can follow a
 * fall in demand.
 *
 * The plan carries the pool's next `memory` (when under-use began, whether the cloud is
 * exhausted): the controller saves it, the dry run does not.
 */
import { planDrain, type DrainGear } from './drain-plan.ts';
import type { NodeState } from './model.ts';
import { createPlacementSnapshot, type PlacementSnapshot } from './placement.ts';

/** The settings of one pool (broker.conf: AUTOSCALE_* and the pool's own line). */
export interface ScalePolicy {
  /** e.g. `small`, or `small@east` for a pool restricted to one district. */
  readonly pool: string;
  readonly gearProfile: string;
  /** The district (name) the pool's nodes join; null: any district of the profile. */
  readonly district: string | null;
  readonly minNodes: number;
  readonly maxNodes: number;
  /** max_active_gears of a node host this pool creates (what a new node adds). */
  readonly maxActiveGearsPerNode: number;
  /** Most node hosts one scale-up asks for. */
  readonly maxNodesPerScaleUp: number;
  /** Scale up when usage reaches this percentage (node-manager's PROFILE_THRESHOLD). */
  readonly upThresholdPct: number;
  /** Scale down only when usage after removing a node stays ≤ upThresholdPct − this. */
  readonly downMarginPct: number;
  /** How long the pool must stay under-used before a node is removed. */
  readonly unneededTimeMs: number;
  /** After a scale-up request, no further one unless placements are being refused. */
  readonly scaleUpCooldownMs: number;
  /** After a scale-down, no further one for this long. */
  readonly scaleDownCooldownMs: number;
  /** After a scale-up request, no scale-down for this long. */
  readonly delayAfterAddMs: number;
  /**
   * How long a refused placement counts as demand (the API re-records it while a request waits,
   * so this is about AUTOSCALE_INTERVAL plus APP_CREATE_WAIT).
   */
  readonly unplacedTtlMs: number;
  /** First wait after a failure; doubled per consecutive failure up to backoffMaxMs. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** A node host of the pool as the planner sees it. */
export interface ScaleNode {
  readonly id: string;
  readonly name: string;
  readonly districtId: string | null;
  readonly state: NodeState;
  readonly maxActiveGears: number;
  /** Gears placed here whose desired state is started (moves reserving room here included). */
  readonly activeGears: number;
  /** Every gear placed here, stopped ones included. */
  readonly gears: number;
  readonly createdAt: number;
}

export interface ScaleDistrict {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  readonly availableUids: number;
}

/** A scale-up still running: its hosts are asked for, not all registered yet. */
export interface PendingScaleUp {
  readonly operationId: string;
  readonly count: number;
  /** How many of its hosts have registered. */
  readonly registered: number;
  readonly requestedAt: number;
}

/** A scale-down still running (several per pool at once, up to the disruption budget). */
export interface RunningScaleDown {
  readonly operationId: string;
  readonly nodeId: string;
  readonly nodeName: string;
  /**
   * `cordoned`: out of placement, waiting out the unneeded time; `draining`: its gears are being
   * moved. Both can still be re-activated; later phases (deleting) cannot.
   */
  readonly phase: string;
  readonly startedAt: number;
}

/** What the autoscaler remembers of a pool between passes (saved in the store). */
export interface PoolMemory {
  readonly paused: { readonly by: string; readonly at: number } | null;
  /** Since when removing a node would keep usage low enough; null: not under-used now. */
  readonly underusedSince: number | null;
  readonly lastScaleUpAt: number | null;
  readonly lastScaleDownAt: number | null;
  /** Consecutive failed scale operations; 0 after a success. */
  readonly failures: number;
  readonly lastFailureAt: number | null;
  readonly lastFailure: string | null;
  /** The cloud said it has no room (quota, capacity), in its words. */
  readonly exhausted: { readonly reason: string; readonly since: number } | null;
  /** Gears refused for lack of room and not yet answered by a scale-up request. */
  readonly unplaced: { readonly gears: number; readonly district: string | null; readonly at: number } | null;
}

export const EMPTY_POOL_MEMORY: PoolMemory = Object.freeze({
  paused: null,
  underusedSince: null,
  lastScaleUpAt: null,
  lastScaleDownAt: null,
  failures: 0,
  lastFailureAt: null,
  lastFailure: null,
  exhausted: null,
  unplaced: null,
});

/**
 * The pool's memory after a scale operation failed: one more consecutive failure (the backoff
 * grows), and, when the cloud said it had no room, the pool exhausted with its reason (since the
 * first such failure). Shared by the broker's executors and the simulator, so both remember alike.
 */
export function afterScaleFailure(memory: PoolMemory, reason: string, exhausted: boolean, now: number): PoolMemory {
  return {
    ...memory,
    failures: memory.failures + 1,
    lastFailure: reason,
    lastFailureAt: now,
    ...(exhausted ? { exhausted: { reason, since: memory.exhausted?.since ?? now } } : {}),
  };
}

/** The pool's memory after a scale operation succeeded: the failures (and the backoff) are over. */
export function afterScaleSuccess(memory: PoolMemory): PoolMemory {
  return { ...memory, failures: 0, lastFailure: null, lastFailureAt: null };
}

/** What the provider says it has left; `nodes: null` means no known limit. */
export interface ScaleHeadroom {
  readonly nodes: number | null;
  readonly reason?: string;
}

export interface ScaleSnapshot {
  /** Every node of the pool's profile (and district, for a district pool) but gone ones. */
  readonly nodes: readonly ScaleNode[];
  /** Every district of the pool's profile. */
  readonly districts: readonly ScaleDistrict[];
  readonly pendingScaleUps: readonly PendingScaleUp[];
  /** The pool's scale-downs still running, one per node (at most `disruptionBudget` at once). */
  readonly runningScaleDowns: readonly RunningScaleDown[];
  /** null: the provider could not be asked this pass (the plan then does not scale up). */
  readonly headroom: ScaleHeadroom | null;
  /** The gears of a node, for the scale-down simulation (asked only of a few candidates). */
  readonly gearsOnNode: (nodeId: string) => readonly DrainGear[];
  /** app id → node id → gears of that app there, for apps on a candidate node. */
  readonly gearsByApp: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly memory: PoolMemory;
}

export interface PoolUsage {
  readonly activeGears: number;
  readonly capacity: number;
  /** activeGears * 100 / capacity, 2 decimals; 100 when capacity is 0 and gears wait. */
  readonly pct: number;
  readonly schedulableNodes: number;
  /** Nodes that count against max: every node of the pool but gone ones, plus hosts asked for. */
  readonly countedNodes: number;
  readonly provisioning: number;
  readonly unplacedGears: number;
}

interface PlanBase {
  readonly pool: string;
  /** A sentence an operator can read: what and why. */
  readonly reason: string;
  readonly usage: PoolUsage;
  /** The pool's memory after this plan (the controller saves it). */
  readonly memory: PoolMemory;
}

export interface ScaleUpPlan extends PlanBase {
  readonly kind: 'scale-up';
  readonly count: number;
  readonly districtId: string;
  readonly districtName: string;
}

export interface ScaleDownPlan extends PlanBase {
  readonly kind: 'scale-down';
  /**
   * `cordon`: take the node out of placement (reversible: demand back re-activates it); its
   * gears may leave by themselves meanwhile. `drain`: SCALE_DOWN_UNNEEDED_TIME later, move what
   * is left and delete it. The operation of the cordon is `operationId` for a drain.
   */
  readonly step: 'cordon' | 'drain';
  readonly operationId: string | null;
  readonly nodeId: string;
  readonly nodeName: string;
  readonly activeGears: number;
  readonly gears: number;
}

export interface CancelDrainPlan extends PlanBase {
  readonly kind: 'cancel-drain';
  readonly operationId: string;
  readonly nodeId: string;
  readonly nodeName: string;
}

/** Why a pool waits, as a stable word (for events on change, status and metrics). */
export type WaitCode =
  | 'paused'
  | 'provisioning'
  | 'at-max'
  | 'headroom-unknown'
  | 'exhausted'
  | 'backoff'
  | 'cooldown'
  | 'no-district'
  | 'scale-down-running'
  | 'underused';

/** Why nothing is done, as a stable word. `cannot-remove` is a refusal worth an event. */
export type NoopCode = 'at-min' | 'busy' | 'cannot-remove';

export interface WaitPlan extends PlanBase {
  readonly kind: 'wait';
  readonly code: WaitCode;
  /** When waiting will be over, when that is known. */
  readonly until: number | null;
  /** Set when the pool cannot grow because the cloud has no room: the cloud's reason. */
  readonly exhausted: string | null;
}

export interface NoopPlan extends PlanBase {
  readonly kind: 'noop';
  readonly code: NoopCode;
}

export type ScalePlan = ScaleUpPlan | ScaleDownPlan | CancelDrainPlan | WaitPlan | NoopPlan;

/** How many scale-down candidates are simulated (cheapest first) before the planner gives up. */
export const SCALE_DOWN_CANDIDATES = 8;

/**
 * The disruption budget: at most this share of the pool's nodes (rounded up, at least one) is
 * being removed at once, cordoned or draining — Karpenter's default budget (`nodes: 10%`).
 * Several at once is what lets a pool follow a fall in demand (one at a time, each waiting out
 * SCALE_DOWN_UNNEEDED_TIME, sheds a node per quarter hour); the budget keeps a wrong guess small.
 */
export const SCALE_DOWN_BUDGET_PCT = 10;

/** How many of the pool's nodes may be being removed at once (see SCALE_DOWN_BUDGET_PCT). */
export function disruptionBudget(nodes: number): number {
  return Math.max(1, Math.ceil((nodes * SCALE_DOWN_BUDGET_PCT) / 100));
}

function chooseToReactivate(snapshot: ScaleSnapshot): RunningScaleDown | undefined {
  const gears = (running: RunningScaleDown) => snapshot.nodes.find((node) => node.id === running.nodeId)?.gears ?? 0;
  const rank = (running: RunningScaleDown) => (running.phase === 'cordoned' ? 0 : 1);
  return snapshot.runningScaleDowns
    .filter((running) => running.phase === 'cordoned' || running.phase === 'draining')
    .sort((a, b) => rank(a) - rank(b) || gears(b) - gears(a) || b.startedAt - a.startedAt || a.nodeName.localeCompare(b.nodeName))[0];
}

export function planScale(snapshot: ScaleSnapshot, policy: ScalePolicy, now: number): ScalePlan {
  const memory = snapshot.memory;
  const usage = measureUsage(snapshot, policy, now);
  const base = { pool: policy.pool, usage };
  const freeze = <T extends ScalePlan>(plan: T): T => Object.freeze(plan);
  const stillUnderused = (next: Partial<PoolMemory> = {}): PoolMemory => ({ ...memory, ...next });

  if (memory.paused !== null) {
    return freeze({ ...base, kind: 'wait', code: 'paused', until: null, exhausted: memory.exhausted?.reason ?? null, memory: stillUnderused({ underusedSince: null }), reason: `autoscaling of pool ${policy.pool} is paused (by ${memory.paused.by})` });
  }

  const upFraction = policy.upThresholdPct / 100;
  const demand = usage.activeGears + usage.unplacedGears;
  const hot = usage.unplacedGears > 0 || (usage.capacity > 0 ? demand / usage.capacity >= upFraction : demand > 0);
  const describe = describeUsage(usage, policy);

  // Demand came back while a node is cordoned or drains for removal: re-activating it is cheaper
  // and faster than a new host. Past `draining` its gears are gone or it is being deleted. With
  // several, one per pass (the next pass measures again): a cordoned one before a draining one
  // (lifting a cordon undoes nothing), then the one holding the most gears (the costliest to
  // move), then the latest cordoned.
  const draining = hot ? chooseToReactivate(snapshot) : undefined;
  if (draining !== undefined) {
    return freeze({
      ...base,
      kind: 'cancel-drain',
      operationId: draining.operationId,
      nodeId: draining.nodeId,
      nodeName: draining.nodeName,
      // The refusals are answered by this node's slots; new ones will be recorded anew.
      memory: stillUnderused({ underusedSince: null, unplaced: null }),
      reason: `demand is back (${describe}): re-activate node ${draining.nodeName}, which is ${draining.phase === 'cordoned' ? 'cordoned' : 'being drained'} for removal, instead of adding a host`,
    });
  }

  const belowMin = usage.schedulableNodes < policy.minNodes;
  if (hot || belowMin) return planScaleUp(snapshot, policy, now, usage, describe, belowMin, freeze);

  return planScaleDown(snapshot, policy, now, usage, describe, freeze);
}

type Freeze = <T extends ScalePlan>(plan: T) => T;

function planScaleUp(snapshot: ScaleSnapshot, policy: ScalePolicy, now: number, usage: PoolUsage, describe: string, belowMin: boolean, freeze: Freeze): ScalePlan {
  const memory = snapshot.memory;
  const base = { pool: policy.pool, usage };
  const next = (changes: Partial<PoolMemory> = {}): PoolMemory => ({ ...memory, underusedSince: null, ...changes });
  const wait = (code: WaitCode, reason: string, until: number | null, changes: Partial<PoolMemory> = {}, exhausted: string | null = memory.exhausted?.reason ?? null): WaitPlan =>
    freeze({ ...base, kind: 'wait', code, until, exhausted, memory: next(changes), reason });

  // Hosts needed so that usage falls below the threshold with everything placed, and the pool
  // reaches its minimum; the hosts already asked for count as if they were there.
  const demand = usage.activeGears + usage.unplacedGears;
  const perNode = Math.max(1, policy.maxActiveGearsPerNode);
  // A refused gear needs a node even when the pool's usage looks fine (it was refused in its
  // district, or for its app's spread), so refusals ask for at least one.
  const forUsage = Math.max(usage.unplacedGears > 0 ? 1 : 0, demand === 0 ? 0 : Math.floor((demand / (policy.upThresholdPct / 100) - usage.capacity) / perNode) + 1);
  const forMin = Math.max(0, policy.minNodes - usage.schedulableNodes);
  const wanted = Math.max(forUsage, forMin);
  const why = belowMin && forUsage === 0 ? `the pool has ${usage.schedulableNodes} schedulable node(s), fewer than its minimum ${policy.minNodes}` : describe;

  if (usage.provisioning >= wanted) {
    return wait('provisioning', `${why}; the ${usage.provisioning} node host(s) being provisioned cover it`, null);
  }
  let count = wanted - usage.provisioning;

  const room = policy.maxNodes - usage.countedNodes;
  if (room <= 0) {
    return wait('at-max', `${why}, but the pool has ${usage.countedNodes} node host(s) and may have at most ${policy.maxNodes} (max)`, null);
  }

  // The cloud first: with no headroom there is nothing to ask for, and saying so is the point.
  const headroom = snapshot.headroom;
  if (headroom === null) return wait('headroom-unknown', `${why}, but the provider could not say how much room it has; trying again next pass`, null);
  if (headroom.nodes !== null && headroom.nodes <= 0) {
    const reason = headroom.reason ?? 'the provider has no room for another node host';
    const exhausted = memory.exhausted ?? { reason, since: now };
    return wait('exhausted', `${why}, but the cloud is exhausted: ${reason}`, null, { exhausted: { reason, since: exhausted.since } }, reason);
  }

  const backoff = backoffUntil(memory, policy);
  if (backoff !== null && now < backoff) {
    return wait('backoff', `${why}; backing off after ${memory.failures} failure(s) (last: ${memory.lastFailure}) until ${new Date(backoff).toISOString()}`, backoff);
  }
  const refused = usage.unplacedGears > 0;
  if (!refused && !belowMin && memory.lastScaleUpAt !== null && now < memory.lastScaleUpAt + policy.scaleUpCooldownMs) {
    const until = memory.lastScaleUpAt + policy.scaleUpCooldownMs;
    return wait('cooldown', `${why}; in the cooldown after the last scale-up until ${new Date(until).toISOString()}`, until);
  }

  const district = chooseDistrict(snapshot, policy);
  if (district === undefined) {
    const which = policy.district ?? memory.unplaced?.district;
    return wait('no-district', which ? `${why}, but district ${which} of profile ${policy.gearProfile} does not exist or has no UIDs left` : `${why}, but no district of profile ${policy.gearProfile} has UIDs left for a new node host`, null);
  }

  const limits: string[] = [];
  if (count > room) {
    count = room;
    limits.push(`max ${policy.maxNodes}`);
  }
  if (headroom.nodes !== null && count > headroom.nodes) {
    count = headroom.nodes;
    limits.push(`the cloud has room for ${headroom.nodes}`);
  }
  if (count > policy.maxNodesPerScaleUp) {
    count = policy.maxNodesPerScaleUp;
    limits.push(`at most ${policy.maxNodesPerScaleUp} per scale-up`);
  }
  const capped = limits.length > 0 ? ` (${wanted - usage.provisioning} wanted; capped by ${limits.join(', ')})` : '';
  return freeze({
    ...base,
    kind: 'scale-up',
    count,
    districtId: district.id,
    districtName: district.name,
    // Headroom is back: whatever exhaustion was remembered is over. The refusals are answered
    // by this request (the hosts count as provisioning from now on).
    memory: next({ exhausted: null, unplaced: null }),
    reason: `${why}: add ${count} node host(s)${capped} to district ${district.name} (${district.availableUids} UIDs left)`,
  });
}

function planScaleDown(snapshot: ScaleSnapshot, policy: ScalePolicy, now: number, usage: PoolUsage, describe: string, freeze: Freeze): ScalePlan {
  const memory = snapshot.memory;
  const base = { pool: policy.pool, usage };
  // Exhaustion is about growing; a pool that needs no growth keeps the flag only while the cloud
  // still says it has no room, so status shows it until headroom returns.
  const exhausted = snapshot.headroom !== null && snapshot.headroom.nodes !== null && snapshot.headroom.nodes <= 0 ? memory.exhausted : snapshot.headroom === null ? memory.exhausted : null;
  const next = (changes: Partial<PoolMemory>): PoolMemory => ({ ...memory, exhausted, ...changes });
  const noop = (code: NoopCode, reason: string): NoopPlan => freeze({ ...base, kind: 'noop', code, memory: next({ underusedSince: null }), reason });
  const wait = (code: WaitCode, reason: string, until: number | null, underusedSince: number | null): WaitPlan =>
    freeze({ ...base, kind: 'wait', code, until, exhausted: exhausted?.reason ?? null, memory: next({ underusedSince }), reason });

  // Nodes already on their way out. A cordoned node leaves once it has been cordoned for the
  // unneeded time — or at once when it holds no gear any more and the pool has been under-used
  // for the unneeded time (nothing is left to move, and the wait was for the pool's under-use,
  // which is over: SCALE_DOWN_UNNEEDED_TIME). Oldest first, one per pass.
  const running = [...snapshot.runningScaleDowns].sort((a, b) => a.startedAt - b.startedAt || a.nodeName.localeCompare(b.nodeName));
  const afterAdd = memory.lastScaleUpAt === null ? 0 : memory.lastScaleUpAt + policy.delayAfterAddMs;
  const underusedSince = memory.underusedSince ?? running[0]?.startedAt ?? null;
  const cordoned = running
    .filter((each) => each.phase === 'cordoned')
    .map((each) => {
      const node = snapshot.nodes.find((candidate) => candidate.id === each.nodeId);
      const emptyAt = node !== undefined && node.gears === 0 && underusedSince !== null ? underusedSince + policy.unneededTimeMs : Infinity;
      return { running: each, node, readyAt: Math.max(Math.min(each.startedAt + policy.unneededTimeMs, emptyAt), afterAdd) };
    });
  // Re-checked before anything irreversible: a node that still holds gears is drained only while
  // the pool stays under-used without it (its capacity is already out of the usage), or the moves
  // would buy a node-hour the pool may want back at once. Until then it waits, cordoned, and may
  // empty by itself; demand back re-activates it.
  const { demand, limit } = scaleDownDemand(snapshot, policy, now, usage);
  const stillUnderused = usage.capacity > 0 && demand / usage.capacity <= limit;
  const ready = cordoned.find((each) => now >= each.readyAt && (stillUnderused || (each.node !== undefined && each.node.gears === 0)));
  if (ready !== undefined) {
    const { running: operation, node } = ready;
    const left = node === undefined ? 'its' : `its ${node.gears} gear(s)`;
    const why =
      node !== undefined && node.gears === 0 && now < operation.startedAt + policy.unneededTimeMs
        ? `node ${operation.nodeName} holds no gear any more and the pool has been under-used for SCALE_DOWN_UNNEEDED_TIME (${policy.unneededTimeMs / 1000} s): remove it`
        : `node ${operation.nodeName} has been cordoned for SCALE_DOWN_UNNEEDED_TIME (${policy.unneededTimeMs / 1000} s): move ${left} and remove it`;
    return freeze({
      ...base,
      kind: 'scale-down',
      step: 'drain',
      operationId: operation.operationId,
      nodeId: operation.nodeId,
      nodeName: operation.nodeName,
      activeGears: node?.activeGears ?? 0,
      gears: node?.gears ?? 0,
      // The pool is still shedding: its under-use goes on (it ends when nothing is left to remove).
      memory: next({ underusedSince }),
      reason: `${describe}; ${why}`,
    });
  }
  // Nothing to drain this pass: say what the nodes on their way out wait for, when no more can
  // be cordoned.
  const inFlight = (more: string): WaitPlan => {
    const first = cordoned.reduce<(typeof cordoned)[number] | undefined>((best, each) => (best === undefined || each.readyAt < best.readyAt ? each : best), undefined);
    const describeOne = (each: (typeof cordoned)[number]) => {
      const left = each.node === undefined ? 'its' : `its ${each.node.gears} gear(s)`;
      const since = `node ${each.running.nodeName} is cordoned (no new gears) since ${new Date(each.running.startedAt).toISOString()}`;
      if (now >= each.readyAt) return `${since}: ${left} move once usage without it is back at or under ${policy.upThresholdPct - policy.downMarginPct}%, unless demand returns`;
      return `${since}: ${left} move and it goes at ${new Date(each.readyAt).toISOString()} unless demand returns`;
    };
    const others = running.filter((each) => each.phase !== 'cordoned').map((each) => `node ${each.nodeName} is being removed (${each.phase})`);
    const parts = [...cordoned.map(describeOne), ...others].join('; ');
    const code: WaitCode = first === undefined ? 'scale-down-running' : 'underused';
    return wait(code, `${describe}; ${parts}${more}`, first === undefined ? null : first.readyAt, underusedSince);
  };
  const budget = disruptionBudget(snapshot.nodes.filter((node) => node.state === 'active' || node.state === 'deactivated' || node.state === 'draining').length);
  if (running.length >= budget) return inFlight(` (${running.length} node(s) on their way out: the disruption budget of ${budget}, ${SCALE_DOWN_BUDGET_PCT}% of the pool, is used up)`);
  const nothingMore = (plan: NoopPlan): ScalePlan => (running.length > 0 ? inFlight('') : plan);
  if (usage.schedulableNodes <= policy.minNodes) return nothingMore(noop('at-min', `${describe}; the pool is at its minimum of ${policy.minNodes} node(s)`));

  // Would removing one node keep usage at or under up − margin? Cheapest candidates first.
  const candidates = rankRemovals(snapshot.nodes, usage.capacity, demand, limit);
  if (candidates.length === 0) {
    return nothingMore(noop('busy', `${describe}; removing a node would raise usage above ${policy.upThresholdPct - policy.downMarginPct}% (up-threshold ${policy.upThresholdPct}% less margin ${policy.downMarginPct})`));
  }

  // The gears must all fit elsewhere in their district (a gear keeps its UID only there), by the
  // drain planner itself. Two economies keep this cheap at 10,000 nodes: a count of the free
  // slots of each district rules out, without a simulation, a node whose active gears cannot fit;
  // and the simulation runs on a snapshot of the candidate's district only.
  const freeByDistrict = new Map<string, number>();
  const schedulable = snapshot.nodes.filter((node) => node.state === 'active' && node.districtId !== null);
  for (const node of schedulable) freeByDistrict.set(node.districtId!, (freeByDistrict.get(node.districtId!) ?? 0) + Math.max(0, node.maxActiveGears - node.activeGears));
  const districtNames = new Map(snapshot.districts.map((district) => [district.id, district.name]));
  const placements = new Map<string, PlacementSnapshot>();
  let chosen: ScaleNode | undefined;
  const refusals: string[] = [];
  for (const node of candidates) {
    if (node.gears === 0) {
      chosen = node;
      break;
    }
    const district = node.districtId!;
    const free = (freeByDistrict.get(district) ?? 0) - Math.max(0, node.maxActiveGears - node.activeGears);
    if (node.activeGears > free) {
      refusals.push(`${node.name}: its ${node.activeGears} active gear(s) need as many slots, and the other active nodes of district ${districtNames.get(district) ?? district} have ${free} free`);
      continue;
    }
    let placement = placements.get(district);
    if (placement === undefined) placements.set(district, (placement = toPlacementSnapshot(schedulable.filter((each) => each.districtId === district), snapshot, policy)));
    const plan = planDrain(placement, { nodeId: node.id, gears: snapshot.gearsOnNode(node.id), gearsByApp: snapshot.gearsByApp });
    if (plan.kind === 'drain') {
      chosen = node;
      break;
    }
    refusals.push(`${node.name}: ${plan.reason}`);
  }
  if (chosen === undefined) {
    return nothingMore(noop('cannot-remove', `${describe}; no node can be removed: its gears would not fit elsewhere in its district (${refusals.join('; ')})`));
  }

  const since = underusedSince ?? now;
  const which = `node ${chosen.name} (${chosen.activeGears} active gear(s), ${chosen.gears} in all)`;
  const leaves = `leave usage at ${percent(demand, usage.capacity - chosen.maxActiveGears)}%`;
  const what = `${which} can go and ${leaves}`;
  // The cordon needs no wait of its own: it is undone as soon as demand returns. The unneeded
  // time runs from the cordon, before anything irreversible (moves, the delete).
  const readyAt = Math.max(
    memory.lastScaleUpAt === null ? 0 : memory.lastScaleUpAt + policy.delayAfterAddMs,
    memory.lastScaleDownAt === null ? 0 : memory.lastScaleDownAt + policy.scaleDownCooldownMs,
    memory.lastFailureAt === null ? 0 : (backoffUntil(memory, policy) ?? 0),
  );
  // Hosts still provisioning do not hold a scale-down back (cluster-autoscaler's "scale-down
  // blocked by a node that never registered"): the delay after a scale-up already spaces them,
  // and a host that never registers is deleted by its scale-up at the provision timeout.
  if (now < readyAt) {
    const cause =
      memory.lastScaleUpAt !== null && readyAt === memory.lastScaleUpAt + policy.delayAfterAddMs
          ? `the delay after the last scale-up`
          : memory.lastScaleDownAt !== null && readyAt === memory.lastScaleDownAt + policy.scaleDownCooldownMs
            ? `the cooldown after the last scale-down`
            : `backing off after ${memory.failures} failure(s)`;
    return wait('underused', `${describe}; ${what}: waiting for ${cause} until ${new Date(readyAt).toISOString()}`, readyAt, since);
  }
  return freeze({
    ...base,
    kind: 'scale-down',
    step: 'cordon',
    operationId: null,
    nodeId: chosen.id,
    nodeName: chosen.name,
    activeGears: chosen.activeGears,
    gears: chosen.gears,
    memory: next({ underusedSince: since }),
    reason: `${describe}: cordon ${which}, whose removal would ${leaves}; it goes after SCALE_DOWN_UNNEEDED_TIME (${policy.unneededTimeMs / 1000} s) unless demand returns`,
  });
}

/** The nodes whose removal keeps usage ≤ `limit`, cheapest first, at most SCALE_DOWN_CANDIDATES. */
function rankRemovals(nodes: readonly ScaleNode[], capacity: number, demand: number, limit: number): ScaleNode[] {
  return nodes
    .filter((node) => node.state === 'active' && node.districtId !== null)
    .filter((node) => capacity - node.maxActiveGears > 0 && demand / (capacity - node.maxActiveGears) <= limit)
    .sort(removalOrder)
    .slice(0, SCALE_DOWN_CANDIDATES);
}

/**
 * The nodes a scale-down pass may simulate draining, the only ones whose gears `planScale` asks
 * `gearsOnNode` for (and whose apps it looks up in `gearsByApp`): the broker reads the gears of
 * these few instead of every gear of the pool (scale-snapshot.ts). Pure, over the snapshot
 * without its gears; the same ranking planScale uses.
 */
export function removalCandidates(snapshot: Pick<ScaleSnapshot, 'nodes' | 'pendingScaleUps' | 'memory'>, policy: ScalePolicy, now: number): readonly ScaleNode[] {
  const usage = measureUsage(snapshot, policy, now);
  const { demand, limit } = scaleDownDemand(snapshot, policy, now, usage);
  return rankRemovals(snapshot.nodes, usage.capacity, demand, limit);
}

/**
 * What a scale-down weighs: the demand the pool must still hold (its active gears, and the
 * larger of the gears refused for room and those about to land on a new node) and the usage it
 * may reach without the node removed (up-threshold less margin, as a ratio). One computation for
 * planScaleDown and removalCandidates, so the gears the broker reads are the plan's candidates'.
 */
function scaleDownDemand(snapshot: Pick<ScaleSnapshot, 'nodes' | 'memory'>, policy: ScalePolicy, now: number, usage: PoolUsage): { demand: number; limit: number } {
  return {
    demand: usage.activeGears + Math.max(usage.unplacedGears, landingGears(snapshot, policy, now)),
    limit: (policy.upThresholdPct - policy.downMarginPct) / 100,
  };
}

/**
 * Usage over the pool's schedulable nodes; hosts asked for and not registered count as
 * provisioning. Refused gears count as demand while recent (`unplacedTtlMs`) and not yet answered
 * by a scale-up request or a node that joined after them.
 */
export function measureUsage(snapshot: Pick<ScaleSnapshot, 'nodes' | 'pendingScaleUps' | 'memory'>, policy: Pick<ScalePolicy, 'unplacedTtlMs'>, now: number): PoolUsage {
  let activeGears = 0;
  let capacity = 0;
  let schedulableNodes = 0;
  let present = 0;
  for (const node of snapshot.nodes) {
    if (node.state === 'gone') continue;
    present += 1;
    // Gears on nodes that take none (deactivated, lost, draining) still run, but they are
    // not capacity: counting them would make a pool with a lost node look emptier than it is.
    if (node.state !== 'active' || node.districtId === null) continue;
    schedulableNodes += 1;
    activeGears += node.activeGears;
    capacity += node.maxActiveGears;
  }
  const provisioning = snapshot.pendingScaleUps.reduce((sum, each) => sum + Math.max(0, each.count - each.registered), 0);
  const { unplaced } = snapshot.memory;
  const unplacedGears = unplaced === null || refusalAnswered(snapshot) || now - unplaced.at > policy.unplacedTtlMs ? 0 : unplaced.gears;
  const pct = capacity === 0 ? (activeGears + unplacedGears > 0 ? 100 : 0) : Math.round((activeGears * 10000) / capacity) / 100;
  return Object.freeze({ activeGears, capacity, pct, schedulableNodes, countedNodes: present + provisioning, provisioning, unplacedGears });
}

/**
 * Gears of a recent refusal that a node registered after it answered, while that node is still
 * empty: the waiting request is about to be placed on its slots. A scale-up no longer counts them
 * (the node is the answer), but a scale-down must not see that room as spare — or it cordons the
 * very node the request waits for, between its registration and the request's retry.
 */
function landingGears(snapshot: Pick<ScaleSnapshot, 'nodes' | 'memory'>, policy: Pick<ScalePolicy, 'unplacedTtlMs'>, now: number): number {
  const { unplaced } = snapshot.memory;
  if (unplaced === null || now - unplaced.at > policy.unplacedTtlMs) return 0;
  const waitedFor = snapshot.nodes.some((node) => node.state === 'active' && node.createdAt > unplaced.at && node.gears === 0);
  return waitedFor ? unplaced.gears : 0;
}

/**
 * Whether the remembered refusal has been answered: by a scale-up asked for after it; by a node
 * that joined after it (the waiting request retries on it), which stays the answer once
 * cordoned; or by a scale-down that ended after it (the pool was found under-used since, so the
 * refusal had been answered then — the node that answered it may be the one removed). A request
 * still waiting records its refusal anew on every retry, so a refusal that is not answered comes
 * back at once; without these, cordoning or removing the node that took the refused gears would
 * revive a refusal met long ago, lift the cordon or ask for a host nobody needs.
 */
function refusalAnswered(snapshot: Pick<ScaleSnapshot, 'nodes' | 'memory'>): boolean {
  const { unplaced, lastScaleUpAt, lastScaleDownAt } = snapshot.memory;
  if (unplaced === null) return false;
  if (lastScaleUpAt !== null && unplaced.at <= lastScaleUpAt) return true;
  if (lastScaleDownAt !== null && unplaced.at <= lastScaleDownAt) return true;
  return snapshot.nodes.some((node) => node.state !== 'gone' && node.state !== 'provisioning' && node.createdAt > unplaced.at);
}

/** Fewest active gears to move, then fewest gears, then the oldest node (a spare kept longest). */
function removalOrder(a: ScaleNode, b: ScaleNode): number {
  return a.activeGears - b.activeGears || a.gears - b.gears || a.createdAt - b.createdAt || a.name.localeCompare(b.name);
}

function chooseDistrict(snapshot: ScaleSnapshot, policy: ScalePolicy): ScaleDistrict | undefined {
  const named = policy.district ?? snapshot.memory.unplaced?.district ?? null;
  const usable = snapshot.districts.filter((district) => district.gearProfile === policy.gearProfile && district.availableUids > 0);
  if (named !== null) return usable.find((district) => district.name === named);
  // The most UIDs left; ties to the name, so the choice is stable.
  return usable.sort((a, b) => b.availableUids - a.availableUids || a.name.localeCompare(b.name))[0];
}

export function backoffUntil(memory: PoolMemory, policy: Pick<ScalePolicy, 'backoffBaseMs' | 'backoffMaxMs'>): number | null {
  if (memory.failures <= 0 || memory.lastFailureAt === null) return null;
  const delay = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(30, memory.failures - 1));
  return memory.lastFailureAt + delay;
}

/** The placement planner's view of some of the pool's nodes (a drain only looks in its district). */
function toPlacementSnapshot(nodes: readonly ScaleNode[], snapshot: ScaleSnapshot, policy: ScalePolicy): PlacementSnapshot {
  return createPlacementSnapshot({
    // The pool is autoscaled, so its placement packs (placement.ts): a drain simulated here puts
    // gears where the broker's drain will.
    order: 'packed',
    nodes: nodes.map((node) => ({ id: node.id, name: node.name, gearProfile: policy.gearProfile, districtId: node.districtId, state: node.state, maxActiveGears: node.maxActiveGears, activeGears: node.activeGears })),
    districts: snapshot.districts,
  });
}

function describeUsage(usage: PoolUsage, policy: ScalePolicy): string {
  const refused = usage.unplacedGears > 0 ? `, ${usage.unplacedGears} gear(s) refused for lack of room` : '';
  return `pool ${policy.pool} is at ${usage.pct}% (${usage.activeGears}/${usage.capacity} active gears on ${usage.schedulableNodes} schedulable node(s)${refused}; up-threshold ${policy.upThresholdPct}%)`;
}

function percent(part: number, whole: number): number {
  return whole <= 0 ? 100 : Math.round((part * 10000) / whole) / 100;
}

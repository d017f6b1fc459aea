import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import type { DrainGear } from '../../src/core/drain-plan.ts';
import { EMPTY_POOL_MEMORY, planScale, type PoolMemory, type ScaleDistrict, type ScaleNode, type ScalePlan, type ScalePolicy, type ScaleSnapshot } from '../../src/core/scale-plan.ts';
import { testScalePolicy } from '../support/scale-policy.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const MINUTE = 60_000;

const POLICY = testScalePolicy({ maxActiveGearsPerNode: 10, scaleUpCooldownMs: MINUTE, unplacedTtlMs: 2 * MINUTE });

/** An active node in district east with 10 slots, created an hour ago, its gears all active. */
function node(name: string, activeGears: number, overrides: Partial<ScaleNode> = {}): ScaleNode {
  return { id: name, name, districtId: 'east', state: 'active', maxActiveGears: 10, activeGears, gears: activeGears, createdAt: NOW - 60 * MINUTE, ...overrides };
}

function district(name: string, availableUids = 6000): ScaleDistrict {
  return { id: name, name, gearProfile: 'small', availableUids };
}

interface Draining {
  node: string;
  phase: string;
  minutesAgo?: number;
}

interface Input {
  nodes: ScaleNode[];
  districts?: ScaleDistrict[];
  memory?: Partial<PoolMemory>;
  pending?: { count: number; registered?: number; minutesAgo?: number }[];
  /** Scale-downs under way: one, or several at once. */
  draining?: Draining | Draining[];
  headroom?: ScaleSnapshot['headroom'];
  policy?: Partial<ScalePolicy>;
}

/** Each node's gears are single-gear apps (no spread in the way) unless a test says otherwise. */
function snapshot(input: Input): ScaleSnapshot {
  const gears = new Map<string, DrainGear[]>();
  const gearsByApp = new Map<string, Map<string, number>>();
  for (const each of input.nodes) {
    const list: DrainGear[] = [];
    for (let index = 0; index < each.gears; index++) {
      const appId = `${each.name}-app${index}`;
      list.push({ id: `${each.name}-g${index}`, appId, active: index < each.activeGears });
      gearsByApp.set(appId, new Map([[each.id, 1]]));
    }
    gears.set(each.id, list);
  }
  return {
    nodes: input.nodes,
    districts: input.districts ?? [district('east')],
    pendingScaleUps: (input.pending ?? []).map((each, index) => ({ operationId: `up${index}`, count: each.count, registered: each.registered ?? 0, requestedAt: NOW - (each.minutesAgo ?? 1) * MINUTE })),
    runningScaleDowns: (input.draining === undefined ? [] : [input.draining].flat()).map((each, index) => ({
      operationId: `down${index + 1}`,
      nodeId: each.node,
      nodeName: each.node,
      phase: each.phase,
      startedAt: NOW - (each.minutesAgo ?? 1) * MINUTE,
    })),
    headroom: input.headroom === undefined ? { nodes: null } : input.headroom,
    gearsOnNode: (id) => gears.get(id) ?? [],
    gearsByApp,
    memory: { ...EMPTY_POOL_MEMORY, ...input.memory },
  };
}

type Want = { kind: ScalePlan['kind']; code?: string; step?: 'cordon' | 'drain'; reason?: RegExp; count?: number; district?: string; node?: string; exhausted?: string | null; memory?: Partial<PoolMemory> };

/** Long ago enough that no delay or cooldown applies. */
const QUIET: Partial<PoolMemory> = { lastScaleUpAt: NOW - 120 * MINUTE, lastScaleDownAt: NOW - 120 * MINUTE, underusedSince: NOW - 30 * MINUTE };

const cases: Record<string, { input: Input; want: Want }> = {
  // --- scale-up ---------------------------------------------------------------------------
  'usage reaches the up-threshold: one node added to the district with the most UIDs left': {
    input: { nodes: [node('n1', 8), node('n2', 8)], districts: [district('east', 100), district('west', 500)] },
    want: { kind: 'scale-up', count: 1, district: 'west', reason: /pool small is at 80% \(16\/20 active gears on 2 schedulable node\(s\); up-threshold 80%\): add 1 node host\(s\) to district west \(500 UIDs left\)/ },
  },
  'usage just under the threshold: nothing to do (no flapping around 80%)': {
    input: { nodes: [node('n1', 8), node('n2', 7)], memory: QUIET },
    want: { kind: 'noop', reason: /removing a node would raise usage above 70%/, memory: { underusedSince: null } },
  },
  'full nodes: one more brings usage under the threshold': {
    // 20 active on 20 slots: more than 20/0.8 = 25 slots are needed → 30 (66.7 %).
    input: { nodes: [node('n1', 10), node('n2', 10)] },
    want: { kind: 'scale-up', count: 1 },
  },
  'far over the threshold: the count is computed so that usage falls under it': {
    // 20 active + 10 refused on 20 slots: more than 30/0.8 = 37.5 slots → 2 nodes (75 %).
    input: { nodes: [node('n1', 10), node('n2', 10)], memory: { unplaced: { gears: 10, district: null, at: NOW - 1000 } } },
    want: { kind: 'scale-up', count: 2 },
  },
  'the count is capped by max and says so': {
    input: { nodes: [node('n1', 10), node('n2', 10)], memory: { unplaced: { gears: 10, district: null, at: NOW - 1000 } }, policy: { maxNodes: 3 } },
    want: { kind: 'scale-up', count: 1, reason: /2 wanted; capped by max 3/ },
  },
  'at max: wait, naming the max': {
    input: { nodes: [node('n1', 10), node('n2', 10)], policy: { maxNodes: 2 } },
    want: { kind: 'wait', reason: /may have at most 2 \(max\)/ },
  },
  'the count is capped by the cloud\'s headroom': {
    input: { nodes: [node('n1', 10), node('n2', 10)], memory: { unplaced: { gears: 10, district: null, at: NOW - 1000 } }, headroom: { nodes: 1 } },
    want: { kind: 'scale-up', count: 1, reason: /capped by the cloud has room for 1/ },
  },
  'no headroom: wait, exhausted with the cloud\'s reason, remembered in the memory': {
    input: { nodes: [node('n1', 9)], headroom: { nodes: 0, reason: 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances' } },
    want: {
      kind: 'wait',
      exhausted: 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances',
      reason: /the cloud is exhausted: Quota exceeded for instances/,
      memory: { exhausted: { reason: 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances', since: NOW } },
    },
  },
  'exhausted earlier, headroom back: the flag clears by itself and the scale-up goes on': {
    input: { nodes: [node('n1', 9)], memory: { exhausted: { reason: 'quota', since: NOW - 30 * MINUTE } }, headroom: { nodes: 3 } },
    want: { kind: 'scale-up', count: 1, memory: { exhausted: null } },
  },
  'exhausted and the provider cannot be asked this pass: wait, keep the flag': {
    input: { nodes: [node('n1', 9)], memory: { exhausted: { reason: 'quota', since: NOW - 30 * MINUTE } }, headroom: null },
    want: { kind: 'wait', reason: /could not say how much room/, exhausted: 'quota' },
  },
  'a scale-up is still provisioning and covers the demand: no second request': {
    input: { nodes: [node('n1', 10), node('n2', 10)], pending: [{ count: 2 }], memory: { lastScaleUpAt: NOW - MINUTE } },
    want: { kind: 'wait', reason: /the 2 node host\(s\) being provisioned cover it/ },
  },
  'demand exceeds what is provisioning: only the difference is asked for': {
    // 20 active + 30 refused on 20 slots: more than 50/0.8 = 62.5 slots → 5 more nodes; 1 is on its way.
    input: { nodes: [node('n1', 10), node('n2', 10)], pending: [{ count: 1 }], memory: { unplaced: { gears: 30, district: null, at: NOW - 1000 }, lastScaleUpAt: NOW - 2 * MINUTE } },
    want: { kind: 'scale-up', count: 4 },
  },
  'in the cooldown after a scale-up: wait, unless placements are refused': {
    input: { nodes: [node('n1', 8), node('n2', 8), node('n3', 9)], memory: { lastScaleUpAt: NOW - 30_000 } },
    want: { kind: 'wait', reason: /cooldown after the last scale-up/ },
  },
  'a refused placement scales up at once, even in the cooldown, and the refusal counts as demand': {
    input: { nodes: [node('n1', 5), node('n2', 5)], memory: { lastScaleUpAt: NOW - 2 * MINUTE, unplaced: { gears: 12, district: null, at: NOW - 5000 } } },
    want: { kind: 'scale-up', count: 1, reason: /12 gear\(s\) refused for lack of room/, memory: { unplaced: null } },
  },
  'a refusal older than its time-to-live no longer counts': {
    input: { nodes: [node('n1', 5), node('n2', 5)], memory: { ...QUIET, unplaced: { gears: 12, district: null, at: NOW - 10 * MINUTE } } },
    want: { kind: 'noop' },
  },
  'a refusal answered by a later scale-up request no longer counts': {
    input: { nodes: [node('n1', 5), node('n2', 5)], memory: { ...QUIET, lastScaleUpAt: NOW - 30_000, unplaced: { gears: 12, district: null, at: NOW - 60_000 } } },
    want: { kind: 'noop' },
  },
  'a refusal answered by a node that joined after it no longer counts (the waiting request retries there)': {
    input: { nodes: [node('n1', 4, { maxActiveGears: 4 }), node('n2', 0, { maxActiveGears: 4, createdAt: NOW - 10_000 })], memory: { ...QUIET, lastScaleUpAt: NOW - 60_000, unplaced: { gears: 2, district: null, at: NOW - 20_000 } } },
    want: { kind: 'noop', code: 'busy' },
  },
  'the node a refusal waits for is not cordoned between its registration and the request\'s retry (its room is demand about to land)': {
    input: {
      nodes: [node('n1', 2, { maxActiveGears: 4 }), node('n2', 2, { maxActiveGears: 4 }), node('n3', 0, { maxActiveGears: 4, createdAt: NOW - 1000 })],
      memory: { ...QUIET, lastScaleUpAt: NOW - 60_000, unplaced: { gears: 3, district: null, at: NOW - 5000 } },
    },
    want: { kind: 'noop', code: 'busy' },
  },
  'once the waiting gears landed, the same pool is measured by its active gears alone': {
    input: {
      nodes: [node('n1', 2, { maxActiveGears: 4 }), node('n2', 2, { maxActiveGears: 4 }), node('n3', 3, { maxActiveGears: 4, createdAt: NOW - 1000 })],
      memory: { ...QUIET, lastScaleUpAt: NOW - 60_000, unplaced: { gears: 3, district: null, at: NOW - 5000 } },
    },
    want: { kind: 'noop', code: 'busy', reason: /at 58/ },
  },
  'a refusal answered by a node that joined after it stays answered once that node is cordoned (no revived demand)': {
    input: {
      nodes: [node('n1', 2, { maxActiveGears: 4 }), node('n2', 2, { maxActiveGears: 4 }), node('n3', 1, { maxActiveGears: 4, state: 'deactivated', createdAt: NOW - 30_000 })],
      draining: { node: 'n3', phase: 'cordoned', minutesAgo: 0.1 },
      memory: { ...QUIET, lastScaleUpAt: NOW - 90_000, unplaced: { gears: 3, district: null, at: NOW - 40_000 } },
    },
    want: { kind: 'wait', code: 'underused' },
  },
  'a refusal older than the last completed scale-down was answered (the node that took it may be the one removed)': {
    input: { nodes: [node('n1', 3, { maxActiveGears: 4 }), node('n2', 2, { maxActiveGears: 4 })], memory: { ...QUIET, lastScaleUpAt: NOW - 90_000, lastScaleDownAt: NOW - 5_000, unplaced: { gears: 3, district: null, at: NOW - 40_000 } } },
    want: { kind: 'noop', code: 'busy' },
  },
  'a refusal in a named district scales up into that district': {
    input: { nodes: [node('n1', 5)], districts: [district('east', 100), district('west', 5000)], memory: { unplaced: { gears: 1, district: 'east', at: NOW - 1000 } } },
    want: { kind: 'scale-up', district: 'east' },
  },
  'after failures: exponential backoff (30 s × 2^(3−1) = 2 min)': {
    input: { nodes: [node('n1', 9)], memory: { failures: 3, lastFailureAt: NOW - 90_000, lastFailure: 'Nova said 500' } },
    want: { kind: 'wait', reason: /backing off after 3 failure\(s\) \(last: Nova said 500\) until 2026-12-01T12:00:30.000Z/ },
  },
  'the backoff is over: try again': {
    input: { nodes: [node('n1', 9)], memory: { failures: 3, lastFailureAt: NOW - 121_000, lastFailure: 'Nova said 500' } },
    want: { kind: 'scale-up', count: 1 },
  },
  'below min: scale up to min though idle': {
    input: { nodes: [], policy: { minNodes: 2 } },
    want: { kind: 'scale-up', count: 2, reason: /0 schedulable node\(s\), fewer than its minimum 2/ },
  },
  'below min with the hosts already provisioning: wait for them': {
    input: { nodes: [], pending: [{ count: 2 }], policy: { minNodes: 2 } },
    want: { kind: 'wait', reason: /being provisioned cover it/ },
  },
  'no district of the profile has UIDs: wait, saying so': {
    input: { nodes: [node('n1', 9)], districts: [district('east', 0)] },
    want: { kind: 'wait', reason: /no district of profile small has UIDs left/ },
  },
  'a lost node is not capacity: its loss makes the pool hot and a replacement comes': {
    input: { nodes: [node('n1', 8), node('n2', 5, { state: 'lost' })] },
    want: { kind: 'scale-up', count: 1, reason: /8\/10 active gears on 1 schedulable node/ },
  },
  'paused: wait, saying who paused it': {
    input: { nodes: [node('n1', 10)], memory: { paused: { by: 'admin', at: NOW - MINUTE } } },
    want: { kind: 'wait', reason: /paused \(by admin\)/ },
  },

  // --- cancel-drain -----------------------------------------------------------------------
  'demand back while a node drains for removal: re-activate it instead of adding a host': {
    input: { nodes: [node('n1', 9), node('n2', 1, { state: 'draining' })], draining: { node: 'n2', phase: 'draining' } },
    want: { kind: 'cancel-drain', node: 'n2', reason: /re-activate node n2/ },
  },
  'demand back after the node was emptied (deleting): too late to cancel, scale up': {
    input: { nodes: [node('n1', 9), node('n2', 0, { state: 'deprovisioning' })], draining: { node: 'n2', phase: 'deleting' } },
    want: { kind: 'scale-up', count: 1 },
  },

  // --- scale-down -------------------------------------------------------------------------
  'under-used: the node with the fewest active gears is cordoned at once, not the busy one': {
    input: { nodes: [node('n1', 3), node('n2', 1), node('n3', 2)], memory: { lastScaleUpAt: NOW - 120 * MINUTE } },
    want: {
      kind: 'scale-down',
      step: 'cordon',
      node: 'n2',
      reason: /cordon node n2 \(1 active gear\(s\), 1 in all\), whose removal would leave usage at 30%; it goes after SCALE_DOWN_UNNEEDED_TIME \(600 s\) unless demand returns/,
      memory: { underusedSince: NOW },
    },
  },
  'cordoned, not yet for the unneeded time: wait, saying when it goes': {
    input: { nodes: [node('n1', 3), node('n2', 1, { state: 'deactivated' }), node('n3', 2)], draining: { node: 'n2', phase: 'cordoned', minutesAgo: 4 }, memory: QUIET },
    want: { kind: 'wait', code: 'underused', reason: /node n2 is cordoned \(no new gears\) since 2026-12-01T11:56:00.000Z: its 1 gear\(s\) move and it goes at 2026-12-01T12:06:00.000Z unless demand returns/ },
  },
  'cordoned for the unneeded time: what is left is moved and the node goes': {
    input: { nodes: [node('n1', 3), node('n2', 1, { state: 'deactivated' }), node('n3', 2)], draining: { node: 'n2', phase: 'cordoned', minutesAgo: 11 }, memory: QUIET },
    want: { kind: 'scale-down', step: 'drain', node: 'n2', reason: /node n2 has been cordoned for SCALE_DOWN_UNNEEDED_TIME \(600 s\): move its 1 gear\(s\) and remove it/ },
  },
  'demand back while a node is cordoned: re-activate it': {
    input: { nodes: [node('n1', 9), node('n2', 0, { state: 'deactivated' })], draining: { node: 'n2', phase: 'cordoned', minutesAgo: 3 } },
    want: { kind: 'cancel-drain', node: 'n2', reason: /re-activate node n2, which is cordoned for removal, instead of adding a host/ },
  },
  'ties on active gears: fewest gears in all, then the oldest node': {
    input: {
      nodes: [
        node('n1', 1, { gears: 4 }),
        node('n2', 1, { gears: 2, createdAt: NOW - 10 * MINUTE }),
        node('n3', 1, { gears: 2, createdAt: NOW - 50 * MINUTE }),
        node('n4', 4),
      ],
      memory: QUIET,
    },
    want: { kind: 'scale-down', node: 'n3' },
  },
  'removal would leave usage over up − margin: no scale-down (hysteresis)': {
    // 15/30 = 50 %; without a node 15/20 = 75 % > 70 %.
    input: { nodes: [node('n1', 5), node('n2', 5), node('n3', 5)], memory: QUIET },
    want: { kind: 'noop', reason: /above 70%/ },
  },
  'never below min': {
    input: { nodes: [node('n1', 0), node('n2', 0)], memory: QUIET, policy: { minNodes: 2 } },
    want: { kind: 'noop', reason: /at its minimum of 2/ },
  },
  'the delay after a scale-up holds a scale-down back': {
    input: { nodes: [node('n1', 1), node('n2', 0)], memory: { ...QUIET, lastScaleUpAt: NOW - 5 * MINUTE } },
    want: { kind: 'wait', reason: /the delay after the last scale-up until 2026-12-01T12:05:00.000Z/ },
  },
  'the cooldown after a scale-down holds the next one back': {
    input: { nodes: [node('n1', 1), node('n2', 0), node('n3', 0)], memory: { ...QUIET, lastScaleDownAt: NOW - 2 * MINUTE } },
    want: { kind: 'wait', reason: /the cooldown after the last scale-down/ },
  },
  'a small pool\'s disruption budget is one node: no second scale-down while one runs': {
    input: { nodes: [node('n1', 1), node('n2', 0), node('n3', 0, { state: 'draining' })], draining: { node: 'n3', phase: 'draining' }, memory: QUIET },
    want: { kind: 'wait', reason: /node n3 is being removed \(draining\)/ },
  },
  'a lost node is never chosen, and does not block removing an idle healthy one': {
    input: { nodes: [node('n1', 2), node('n2', 0, { state: 'lost' }), node('n3', 0)], memory: QUIET },
    want: { kind: 'scale-down', node: 'n3' },
  },
  'a host that never registered does not block a scale-down (it is deleted at its provision timeout)': {
    input: { nodes: [node('n1', 1), node('n2', 0)], pending: [{ count: 1, minutesAgo: 40 }], memory: QUIET },
    want: { kind: 'scale-down', node: 'n2' },
  },
  'scale-down keeps working while the cloud is exhausted, and the flag stays while headroom is 0': {
    input: { nodes: [node('n1', 1), node('n2', 0)], memory: { ...QUIET, exhausted: { reason: 'quota', since: NOW - 60 * MINUTE } }, headroom: { nodes: 0, reason: 'quota' } },
    want: { kind: 'scale-down', node: 'n2', memory: { exhausted: { reason: 'quota', since: NOW - 60 * MINUTE } } },
  },
  'headroom back while idle: the exhausted flag clears': {
    input: { nodes: [node('n1', 5), node('n2', 5), node('n3', 5)], memory: { ...QUIET, exhausted: { reason: 'quota', since: NOW - 60 * MINUTE } }, headroom: { nodes: 4 } },
    want: { kind: 'noop', memory: { exhausted: null } },
  },
  'gears that do not fit elsewhere in their district: the next candidate whose gears fit goes': {
    // n3 is alone in west; n1's 3 gears fit on n2 (3 free slots).
    input: { nodes: [node('n1', 3), node('n2', 7), node('n3', 2, { districtId: 'west' })], districts: [district('east'), district('west')], memory: QUIET },
    want: { kind: 'scale-down', node: 'n1' },
  },
  'no candidate\'s gears fit elsewhere in their district: nothing is removed, saying why': {
    input: { nodes: [node('n1', 3), node('n2', 8), node('n3', 2, { districtId: 'west' })], districts: [district('east'), district('west')], memory: QUIET },
    want: { kind: 'noop', reason: /no node can be removed: its gears would not fit elsewhere in its district \(n3: .*; n1: .*; n2: .*\)/ },
  },
  'several scale-downs at once: another node is cordoned while one waits, within the budget (10% of 20 nodes = 2)': {
    input: {
      nodes: [node('n1', 1, { state: 'deactivated' }), node('n2', 1), ...Array.from({ length: 18 }, (_, index) => node(`m${index}`, 5))],
      draining: { node: 'n1', phase: 'cordoned', minutesAgo: 2 },
      memory: QUIET,
    },
    want: { kind: 'scale-down', step: 'cordon', node: 'n2', memory: { underusedSince: QUIET.underusedSince } },
  },
  'the disruption budget used up: the others wait, and the plan says so': {
    input: {
      nodes: [node('n1', 1, { state: 'deactivated' }), node('n2', 1, { state: 'deactivated' }), node('n3', 0), ...Array.from({ length: 17 }, (_, index) => node(`m${index}`, 5))],
      draining: [
        { node: 'n1', phase: 'cordoned', minutesAgo: 2 },
        { node: 'n2', phase: 'cordoned', minutesAgo: 1 },
      ],
      memory: QUIET,
    },
    want: { kind: 'wait', code: 'underused', reason: /2 node\(s\) on their way out: the disruption budget of 2, 10% of the pool, is used up/ },
  },
  'an empty cordoned node goes at once when the pool has been under-used for the unneeded time (nothing to move)': {
    input: { nodes: [node('n1', 3), node('n2', 0, { state: 'deactivated' }), node('n3', 2)], draining: { node: 'n2', phase: 'cordoned', minutesAgo: 2 }, memory: QUIET },
    want: { kind: 'scale-down', step: 'drain', node: 'n2', reason: /node n2 holds no gear any more and the pool has been under-used for SCALE_DOWN_UNNEEDED_TIME \(600 s\): remove it/ },
  },
  'an empty cordoned node still waits while the pool\'s under-use is younger than the unneeded time': {
    input: { nodes: [node('n1', 3), node('n2', 0, { state: 'deactivated' }), node('n3', 2)], draining: { node: 'n2', phase: 'cordoned', minutesAgo: 2 }, memory: { ...QUIET, underusedSince: NOW - 2 * MINUTE } },
    want: { kind: 'wait', code: 'underused', reason: /it goes at 2026-12-01T12:08:00.000Z unless demand returns/ },
  },
  'a cordoned node that still holds gears is drained only while usage without it stays under up − margin (re-checked)': {
    // 15 active on the 2 schedulable nodes = 75 %: over 70 %, under 80 % (not hot either).
    input: { nodes: [node('n1', 8), node('n2', 7), node('n3', 2, { state: 'deactivated' })], draining: { node: 'n3', phase: 'cordoned', minutesAgo: 11 }, memory: QUIET },
    want: { kind: 'wait', code: 'underused', reason: /node n3 is cordoned .*: its 2 gear\(s\) move once usage without it is back at or under 70%, unless demand returns/ },
  },
  'demand back with several nodes on their way out: the cordoned one holding the most gears is re-activated first, before a draining one': {
    input: {
      nodes: [node('n1', 10), node('n2', 9), node('n3', 1, { state: 'deactivated' }), node('n4', 3, { state: 'deactivated' }), node('n5', 4, { state: 'deactivated' })],
      draining: [
        { node: 'n3', phase: 'cordoned', minutesAgo: 5 },
        { node: 'n4', phase: 'cordoned', minutesAgo: 4 },
        { node: 'n5', phase: 'draining', minutesAgo: 12 },
      ],
    },
    want: { kind: 'cancel-drain', node: 'n4' },
  },
  'a paused pool does not scale down either': {
    input: { nodes: [node('n1', 1), node('n2', 0)], memory: { ...QUIET, paused: { by: 'admin', at: NOW } } },
    want: { kind: 'wait', reason: /paused/ },
  },
};

describe('planScale', () => {
  for (const [name, { input, want }] of Object.entries(cases)) {
    test(name, () => {
      const plan = planScale(snapshot(input), { ...POLICY, ...input.policy }, NOW);
      assert.equal(plan.kind, want.kind, `kind (reason: ${plan.reason})`);
      assert.ok(Object.isFrozen(plan), 'the plan is frozen');
      if (want.reason) assert.match(plan.reason, want.reason);
      if (want.step !== undefined) assert.equal(plan.kind === 'scale-down' ? plan.step : undefined, want.step, plan.reason);
      if (want.code !== undefined) assert.equal(plan.kind === 'wait' || plan.kind === 'noop' ? plan.code : undefined, want.code, plan.reason);
      if (want.count !== undefined) assert.equal(plan.kind === 'scale-up' ? plan.count : undefined, want.count, plan.reason);
      if (want.district !== undefined) assert.equal(plan.kind === 'scale-up' ? plan.districtName : undefined, want.district);
      if (want.node !== undefined) assert.equal(plan.kind === 'scale-down' || plan.kind === 'cancel-drain' ? plan.nodeName : undefined, want.node, plan.reason);
      if (want.exhausted !== undefined) assert.equal(plan.kind === 'wait' ? plan.exhausted : undefined, want.exhausted);
      for (const [key, value] of Object.entries(want.memory ?? {})) assert.deepEqual(plan.memory[key as keyof PoolMemory], value, `memory.${key}`);
    });
  }

  test('the same snapshot gives the same plan, and the snapshot is left as it was', () => {
    const input: Input = { nodes: [node('n1', 3), node('n2', 1), node('n3', 2)], memory: QUIET };
    const shot = snapshot(input);
    const before = JSON.stringify(shot.nodes);
    assert.deepEqual(planScale(shot, POLICY, NOW), planScale(shot, POLICY, NOW));
    assert.equal(JSON.stringify(shot.nodes), before);
  });

  test('flapping: a load that swings between 60% and 79% never scales either way', () => {
    let memory: PoolMemory = { ...EMPTY_POOL_MEMORY, ...QUIET, underusedSince: null };
    for (let minute = 0; minute < 120; minute++) {
      const active = minute % 2 === 0 ? 18 : 23; // 60 % and 76.7 % of 30 slots
      const now = NOW + minute * MINUTE;
      const plan = planScale(snapshot({ nodes: [node('n1', Math.ceil(active / 3)), node('n2', Math.floor(active / 3)), node('n3', active - Math.ceil(active / 3) - Math.floor(active / 3))], memory }), POLICY, now);
      assert.ok(plan.kind === 'noop' || plan.kind === 'wait', `minute ${minute}: ${plan.kind}: ${plan.reason}`);
      memory = plan.memory;
    }
  });
});

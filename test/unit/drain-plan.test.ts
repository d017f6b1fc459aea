import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/core/errors.ts';
import { planDrain, planMoveTarget } from '../../src/core/drain-plan.ts';
import type { DrainGear, DrainPlan, DrainRequest, MoveTargetRequest } from '../../src/core/drain-plan.ts';
import { createPlacementSnapshot } from '../../src/core/placement.ts';
import type { PlacementDistrict, PlacementNode, PlacementSnapshot } from '../../src/core/placement.ts';

/** An active small node in district 'east' with 10 slots, unless told otherwise. */
function node(name: string, overrides: Partial<PlacementNode> = {}): PlacementNode {
  return { id: name, name, gearProfile: 'small', districtId: 'east', state: 'active', maxActiveGears: 10, activeGears: 0, ...overrides };
}

function district(name: string, overrides: Partial<PlacementDistrict> = {}): PlacementDistrict {
  return { id: name, name, gearProfile: 'small', availableUids: 6000, ...overrides };
}

/** `count` gears of `appId`, ids `<app>-01`…, active unless told. */
function gearsOf(appId: string, count: number, active = true): DrainGear[] {
  return Array.from({ length: count }, (_, index) => ({ id: `${appId}-${String(index + 1).padStart(2, '0')}`, appId, active }));
}

/** Gears of `count` different apps, one each: no spreading in the way. */
function singleGearApps(count: number, active = true): DrainGear[] {
  return Array.from({ length: count }, (_, index) => ({ id: `g${String(index + 1).padStart(2, '0')}`, appId: `app${String(index + 1).padStart(2, '0')}`, active }));
}

/** The drained node: n1, deactivated (as the drainer leaves it), holding its gears as active. */
function source(activeGears: number, overrides: Partial<PlacementNode> = {}): PlacementNode {
  return node('n1', { state: 'deactivated', activeGears, ...overrides });
}

interface Input {
  nodes: PlacementNode[];
  districts: PlacementDistrict[];
  gears: DrainGear[];
  gearsByApp?: Record<string, Record<string, number>>;
  changeDistrict?: boolean;
}

type Want =
  | { kind: 'drain'; reason?: string; targets?: Record<string, string>; perNode?: Record<string, number> }
  | { kind: 'refuse'; reason: string; unplaceable: string[] };

const cases: Record<string, { input: Input; want: Want }> = {
  '20 gears spread evenly over the 3 other active nodes of the district, named in the reason': {
    input: { nodes: [source(20, { maxActiveGears: 20 }), node('n2'), node('n3'), node('n4')], districts: [district('east')], gears: singleGearApps(20) },
    want: {
      kind: 'drain',
      reason: 'move 20 gears of node n1 to 3 other active nodes of district east: n2 (7), n3 (7), n4 (6)',
      perNode: { n2: 7, n3: 7, n4: 6 },
    },
  },
  'the least loaded node takes the gears until it is as loaded as the others': {
    input: { nodes: [source(4), node('n2', { activeGears: 6 }), node('n3', { activeGears: 2 })], districts: [district('east')], gears: singleGearApps(4) },
    want: { kind: 'drain', perNode: { n3: 4 } },
  },
  'a node with no gears drains to nothing': {
    input: { nodes: [source(0), node('n2')], districts: [district('east')], gears: [] },
    want: { kind: 'drain', reason: 'node n1 has no gears to move', perNode: {} },
  },
  'deactivated, draining, lost and provisioning nodes are never targets, however empty': {
    input: {
      nodes: [
        source(1),
        node('n2', { state: 'deactivated' }),
        node('n3', { state: 'lost' }),
        node('n4', { state: 'draining' }),
        node('n5', { state: 'provisioning' }),
        node('n6', { activeGears: 9 }),
      ],
      districts: [district('east')],
      gears: singleGearApps(1),
    },
    want: { kind: 'drain', reason: 'move 1 gear of node n1 to 1 other active node of district east: n6 (1)', targets: { g01: 'n6' } },
  },
  'a node never drains onto itself, even when it is active and the emptiest': {
    input: { nodes: [node('n1', { activeGears: 1, maxActiveGears: 100 }), node('n2', { activeGears: 9 })], districts: [district('east')], gears: singleGearApps(1) },
    want: { kind: 'drain', targets: { g01: 'n2' } },
  },
  'moving stays in-district, even when another district has emptier nodes': {
    input: {
      nodes: [source(2), node('n2', { activeGears: 8 }), node('w1', { districtId: 'west' })],
      districts: [district('east'), district('west')],
      gears: singleGearApps(2),
    },
    want: { kind: 'drain', perNode: { n2: 2 } },
  },
  "spread: an app's gear goes to a node without the app before a less loaded one holding it": {
    input: {
      nodes: [source(1), node('n2', { activeGears: 1 }), node('n3', { activeGears: 5 })],
      districts: [district('east')],
      gears: gearsOf('shop', 1),
      gearsByApp: { shop: { n1: 1, n2: 1 } },
    },
    want: { kind: 'drain', targets: { 'shop-01': 'n3' } },
  },
  "spread: an app's gears from one node are spread over the other nodes, not piled on the least loaded": {
    input: {
      nodes: [source(3), node('n2'), node('n3', { activeGears: 2 }), node('n4', { activeGears: 4 })],
      districts: [district('east')],
      gears: gearsOf('shop', 3),
    },
    want: { kind: 'drain', targets: { 'shop-01': 'n2', 'shop-02': 'n3', 'shop-03': 'n4' } },
  },
  'not enough room in the district: refused, naming the district, how many fit and why the rest do not': {
    input: { nodes: [source(5), node('n2', { activeGears: 8 })], districts: [district('east')], gears: singleGearApps(5) },
    want: {
      kind: 'refuse',
      reason:
        "cannot drain node n1: only 2 of its 5 gears fit on the other active nodes of district east (--change-district would also consider other districts); no node of profile 'small' in district 'east' can take a gear: node 'n2' is full (10/10 active gears); 1 node is deactivated ('n1')",
      unplaceable: ['g03', 'g04', 'g05'],
    },
  },
  'no other node in the district: refused, none fits': {
    input: { nodes: [source(2), node('w1', { districtId: 'west' })], districts: [district('east'), district('west')], gears: singleGearApps(2) },
    want: {
      kind: 'refuse',
      reason:
        "cannot drain node n1: none of its 2 gears fits on the other active nodes of district east (--change-district would also consider other districts); no node of profile 'small' in district 'east' can take a gear: 1 node is deactivated ('n1')",
      unplaceable: ['g01', 'g02'],
    },
  },
  'with changeDistrict the gears that do not fit at home go to another district of the profile': {
    input: {
      nodes: [source(5), node('n2', { activeGears: 8 }), node('w1', { districtId: 'west' })],
      districts: [district('east'), district('west')],
      gears: singleGearApps(5),
      changeDistrict: true,
    },
    want: {
      kind: 'drain',
      reason: 'move 5 gears of node n1 to 2 other active nodes in districts east, west (3 gears out of district east, with new UIDs): w1 (3, west), n2 (2, east)',
      perNode: { n2: 2, w1: 3 },
    },
  },
  'with changeDistrict the own district is still preferred when it has room': {
    input: {
      nodes: [source(2), node('n2', { activeGears: 8 }), node('w1', { districtId: 'west' })],
      districts: [district('east'), district('west')],
      gears: singleGearApps(2),
      changeDistrict: true,
    },
    want: { kind: 'drain', reason: 'move 2 gears of node n1 to 1 other active node of district east: n2 (2)', perNode: { n2: 2 } },
  },
  'changeDistrict never uses a district of another profile': {
    input: {
      nodes: [source(1), node('m1', { gearProfile: 'medium', districtId: 'mid' })],
      districts: [district('east'), district('mid', { gearProfile: 'medium' })],
      gears: singleGearApps(1),
      changeDistrict: true,
    },
    want: {
      kind: 'refuse',
      reason: "cannot drain node n1: none of its 1 gear fits on the other active nodes of profile 'small'; no node of profile 'small' can take a gear: 1 node is deactivated ('n1')",
      unplaceable: ['g01'],
    },
  },
  'a district with no free UIDs can still be drained in-district: each gear keeps its UID': {
    input: { nodes: [source(3), node('n2')], districts: [district('east', { availableUids: 0 })], gears: singleGearApps(3) },
    want: { kind: 'drain', perNode: { n2: 3 } },
  },
  'a gear leaving for another district needs a free UID there': {
    input: {
      nodes: [source(1), node('n2', { activeGears: 10 }), node('w1', { districtId: 'west' })],
      districts: [district('east'), district('west', { availableUids: 0 })],
      gears: singleGearApps(1),
      changeDistrict: true,
    },
    want: {
      kind: 'refuse',
      reason:
        "cannot drain node n1: none of its 1 gear fits on the other active nodes of profile 'small'; no node of profile 'small' can take a gear: district 'west' has no UIDs left; node 'n2' is full (10/10 active gears); 1 node is deactivated ('n1')",
      unplaceable: ['g01'],
    },
  },
  'stopped gears take no max_active_gears slot: three fit where one slot is left': {
    input: { nodes: [source(0), node('n2', { activeGears: 9 })], districts: [district('east')], gears: singleGearApps(3, false) },
    want: { kind: 'drain', reason: 'move 3 gears of node n1 (0 active, 3 stopped or idle) to 1 other active node of district east: n2 (3)', perNode: { n2: 3 } },
  },
  'active gears are placed first and get the slots; stopped ones go to a full active node rather than be refused': {
    input: {
      nodes: [source(1), node('n2', { activeGears: 9 }), node('n3', { activeGears: 10 })],
      districts: [district('east')],
      // The stopped gear sorts first by app, but active gears are planned first whatever the order.
      gears: [{ id: 'a-stopped', appId: 'aaa', active: false }, { id: 'z-active', appId: 'zzz', active: true }],
    },
    want: { kind: 'drain', targets: { 'z-active': 'n2', 'a-stopped': 'n2' } },
  },
  'stopped gears still need a UID: leaving for a district without UIDs is refused': {
    input: {
      nodes: [source(0, { state: 'lost' }), node('w1', { districtId: 'west' })],
      districts: [district('east'), district('west', { availableUids: 0 })],
      gears: singleGearApps(1, false),
      changeDistrict: true,
    },
    want: {
      kind: 'refuse',
      reason: "cannot drain node n1: none of its 1 gear fits on the other active nodes of profile 'small'; no node of profile 'small' can take a gear: district 'west' has no UIDs left; 1 node is lost ('n1')",
      unplaceable: ['g01'],
    },
  },
  'a source in no district is refused unless changeDistrict': {
    input: { nodes: [source(1, { districtId: null }), node('n2')], districts: [district('east')], gears: singleGearApps(1) },
    want: {
      kind: 'refuse',
      reason: 'cannot drain node n1: it is in no district, so its gears have no district to stay in (use --change-district)',
      unplaceable: ['g01'],
    },
  },
};

function requestFor(input: Input): DrainRequest {
  const gearsByApp = new Map(Object.entries(input.gearsByApp ?? {}).map(([app, counts]) => [app, new Map(Object.entries(counts))]));
  return { nodeId: 'n1', gears: input.gears, gearsByApp, ...(input.changeDistrict === undefined ? {} : { changeDistrict: input.changeDistrict }) };
}

function perNode(plan: DrainPlan): Record<string, number> {
  const counts: Record<string, number> = {};
  if (plan.kind === 'drain') for (const move of plan.moves) counts[move.toNodeName] = (counts[move.toNodeName] ?? 0) + 1;
  return counts;
}

describe('planDrain', () => {
  for (const [name, { input, want }] of Object.entries(cases)) {
    test(name, () => {
      const snapshot = createPlacementSnapshot({ nodes: input.nodes, districts: input.districts });
      const plan = planDrain(snapshot, requestFor(input));
      assert.equal(plan.kind, want.kind, plan.reason);
      if (want.kind === 'refuse') {
        assert.equal(plan.reason, want.reason);
        assert.deepEqual(plan.kind === 'refuse' ? [...plan.unplaceable] : undefined, want.unplaceable);
        return;
      }
      assert.ok(plan.kind === 'drain');
      if (want.reason !== undefined) assert.equal(plan.reason, want.reason);
      if (want.perNode !== undefined) assert.deepEqual(perNode(plan), want.perNode);
      if (want.targets !== undefined) {
        assert.deepEqual(Object.fromEntries(plan.moves.map((move) => [move.gearId, move.toNodeName])), want.targets);
      }
      // Invariants of every drain plan: every gear once, from n1, never to n1.
      assert.deepEqual(plan.moves.map((move) => move.gearId).sort(), input.gears.map((gear) => gear.id).sort());
      for (const move of plan.moves) {
        assert.equal(move.fromNodeId, 'n1');
        assert.notEqual(move.toNodeId, 'n1');
      }
    });
  }
});

describe('planDrain properties', () => {
  function bigCluster(): PlacementSnapshot {
    return createPlacementSnapshot({
      nodes: [
        source(20, { maxActiveGears: 30 }),
        node('n2', { activeGears: 3 }),
        node('n3', { activeGears: 5, maxActiveGears: 20 }),
        node('n4', { state: 'deactivated' }),
        node('w1', { districtId: 'west' }),
      ],
      districts: [district('east', { availableUids: 40 }), district('west')],
    });
  }
  const gears = [...gearsOf('shop', 6), ...gearsOf('blog', 4, false), ...singleGearApps(8)];
  const gearsByApp = new Map([['shop', new Map([['n1', 6], ['n2', 2]])]]);

  test("the caller's snapshot is unchanged", () => {
    const snapshot = bigCluster();
    const before = ['n1', 'n2', 'n3', 'n4', 'w1'].map((id) => snapshot.node(id));
    const districtsBefore = ['east', 'west'].map((id) => snapshot.district(id));
    const plan = planDrain(snapshot, { nodeId: 'n1', gears, gearsByApp, changeDistrict: true });
    assert.equal(plan.kind, 'drain');
    assert.deepEqual(['n1', 'n2', 'n3', 'n4', 'w1'].map((id) => snapshot.node(id)), before);
    assert.deepEqual(['east', 'west'].map((id) => snapshot.district(id)), districtsBefore);
    assert.equal(gearsByApp.get('shop')?.get('n2'), 2, 'the app counts are copied, not bumped');
  });

  test('deterministic: the same plan again, and whatever order the gears come in', () => {
    const first = planDrain(bigCluster(), { nodeId: 'n1', gears, gearsByApp });
    const again = planDrain(bigCluster(), { nodeId: 'n1', gears, gearsByApp });
    const reversed = planDrain(bigCluster(), { nodeId: 'n1', gears: [...gears].reverse(), gearsByApp });
    assert.deepEqual(again, first);
    const byGear = (plan: DrainPlan) => (plan.kind === 'drain' ? [...plan.moves].sort((a, b) => (a.gearId < b.gearId ? -1 : 1)) : plan);
    assert.deepEqual(byGear(reversed), byGear(first));
    assert.equal(reversed.reason, first.reason);
  });

  test('the plan is frozen data', () => {
    const plan = planDrain(bigCluster(), { nodeId: 'n1', gears, gearsByApp });
    assert.ok(Object.isFrozen(plan));
    assert.ok(plan.kind === 'drain' && Object.isFrozen(plan.moves) && Object.isFrozen(plan.moves[0]));
    assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan, 'plain data: survives JSON (journal, event)');
  });

  test('without changeDistrict every target is in the node’s district; a deactivated node is never one', () => {
    const plan = planDrain(bigCluster(), { nodeId: 'n1', gears, gearsByApp });
    assert.ok(plan.kind === 'drain');
    for (const move of plan.moves) {
      assert.equal(move.toDistrictId, 'east');
      assert.notEqual(move.toNodeName, 'n4');
    }
  });

  test('an unknown node or a gear listed twice is a caller bug: InputError', () => {
    assert.throws(() => planDrain(bigCluster(), { nodeId: 'nope', gears: [], gearsByApp }), InputError);
    assert.throws(() => planDrain(bigCluster(), { nodeId: 'n1', gears: [...gearsOf('a', 1), ...gearsOf('a', 1)], gearsByApp }), InputError);
  });
});

const moveCases: Record<string, { input: { nodes: PlacementNode[]; districts: PlacementDistrict[]; request: Partial<MoveTargetRequest> }; want: { to: string; reason?: string } | { refuse: string } }> = {
  'without --to the placement planner chooses, the source excluded': {
    input: { nodes: [node('n1'), node('n2', { activeGears: 4 }), node('n3', { activeGears: 2 })], districts: [district('east')], request: {} },
    want: {
      to: 'n3',
      reason: "move gear g1 from node n1 to node n3: node 'n3' is the least loaded active node of profile 'small' in district 'east': 2/10 active gears",
    },
  },
  'without --to the move stays in-district unless changeDistrict': {
    input: { nodes: [node('n1'), node('n2', { activeGears: 9 }), node('w1', { districtId: 'west' })], districts: [district('east'), district('west')], request: {} },
    want: { to: 'n2' },
  },
  'without --to and a full district, changeDistrict goes to another district': {
    input: {
      nodes: [node('n1'), node('n2', { activeGears: 10 }), node('w1', { districtId: 'west' })],
      districts: [district('east'), district('west')],
      request: { changeDistrict: true },
    },
    want: { to: 'w1' },
  },
  'without --to, a district with no free UIDs: the gear keeps its own': {
    input: { nodes: [node('n1'), node('n2')], districts: [district('east', { availableUids: 0 })], request: {} },
    want: { to: 'n2' },
  },
  'a named active node of the district with room is taken': {
    input: { nodes: [node('n1'), node('n2', { activeGears: 1 }), node('n3', { activeGears: 7 })], districts: [district('east')], request: { toNodeId: 'n3' } },
    want: { to: 'n3', reason: 'move gear g1 from node n1 to node n3 of district east: 7/10 active gears' },
  },
  'a named node that is the source is refused': {
    input: { nodes: [node('n1')], districts: [district('east')], request: { toNodeId: 'n1' } },
    want: { refuse: 'cannot move gear g1 from node n1: it is already on node n1' },
  },
  'a named deactivated node is refused': {
    input: { nodes: [node('n1'), node('n2', { state: 'deactivated' })], districts: [district('east')], request: { toNodeId: 'n2' } },
    want: { refuse: 'cannot move gear g1 from node n1: node n2 is deactivated: only active nodes take gears' },
  },
  'a named lost node is refused': {
    input: { nodes: [node('n1'), node('n2', { state: 'lost' })], districts: [district('east')], request: { toNodeId: 'n2' } },
    want: { refuse: 'cannot move gear g1 from node n1: node n2 is lost: only active nodes take gears' },
  },
  'a named full node is refused for an active gear': {
    input: { nodes: [node('n1'), node('n2', { activeGears: 10 })], districts: [district('east')], request: { toNodeId: 'n2' } },
    want: { refuse: 'cannot move gear g1 from node n1: node n2 is full (10/10 active gears)' },
  },
  'a named full node takes a stopped gear, which needs no slot': {
    input: { nodes: [node('n1'), node('n2', { activeGears: 10 })], districts: [district('east')], request: { toNodeId: 'n2', gear: { id: 'g1', appId: 'a', active: false } } },
    want: { to: 'n2' },
  },
  'a named node of another profile is refused': {
    input: { nodes: [node('n1'), node('m1', { gearProfile: 'medium', districtId: 'mid' })], districts: [district('east'), district('mid', { gearProfile: 'medium' })], request: { toNodeId: 'm1' } },
    want: { refuse: "cannot move gear g1 from node n1: node m1 serves profile 'medium', the gear is 'small'" },
  },
  'a named node of another district is refused without changeDistrict, saying why': {
    input: { nodes: [node('n1'), node('w1', { districtId: 'west' })], districts: [district('east'), district('west')], request: { toNodeId: 'w1' } },
    want: {
      refuse:
        'cannot move gear g1 from node n1: node w1 is in district west, the gear in district east: a gear keeps its UID only inside its district (use --change-district to give it a new one)',
    },
  },
  'a named node of another district is taken with changeDistrict': {
    input: { nodes: [node('n1'), node('w1', { districtId: 'west' })], districts: [district('east'), district('west')], request: { toNodeId: 'w1', changeDistrict: true } },
    want: { to: 'w1', reason: 'move gear g1 from node n1 to node w1 of district west (out of district east, with a new UID): 0/10 active gears' },
  },
  'a named node of another district without UIDs is refused even with changeDistrict': {
    input: {
      nodes: [node('n1'), node('w1', { districtId: 'west' })],
      districts: [district('east'), district('west', { availableUids: 0 })],
      request: { toNodeId: 'w1', changeDistrict: true },
    },
    want: { refuse: 'cannot move gear g1 from node n1: district west has no UIDs left' },
  },
  'no room anywhere in the district: the placement explanation': {
    input: { nodes: [node('n1'), node('n2', { activeGears: 10 })], districts: [district('east')], request: {} },
    want: {
      refuse:
        "cannot move gear g1 from node n1: no node of profile 'small' in district 'east' can take a gear: node 'n2' is full (10/10 active gears); 1 node is excluded from this request ('n1')",
    },
  },
};

describe('planMoveTarget', () => {
  for (const [name, { input, want }] of Object.entries(moveCases)) {
    test(name, () => {
      const snapshot = createPlacementSnapshot({ nodes: input.nodes, districts: input.districts });
      const before = input.nodes.map((each) => snapshot.node(each.id));
      const plan = planMoveTarget(snapshot, { gear: { id: 'g1', appId: 'a', active: true }, fromNodeId: 'n1', ...input.request });
      if ('refuse' in want) {
        assert.equal(plan.kind, 'refuse');
        assert.equal(plan.reason, want.refuse);
        assert.ok(plan.kind === 'refuse' && plan.unplaceable.length === 1 && plan.unplaceable[0] === 'g1');
      } else {
        assert.equal(plan.kind, 'move', plan.reason);
        assert.ok(plan.kind === 'move');
        assert.equal(plan.move.toNodeName, want.to);
        assert.equal(plan.move.fromNodeId, 'n1');
        if (want.reason !== undefined) assert.equal(plan.reason, want.reason);
      }
      assert.ok(Object.isFrozen(plan));
      assert.deepEqual(input.nodes.map((each) => snapshot.node(each.id)), before, 'the snapshot is unchanged');
    });
  }
});

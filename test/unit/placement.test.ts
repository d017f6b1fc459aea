import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, ExhaustedError, InputError } from '../../src/core/errors.ts';
import { applyPlacement, clonePlacementSnapshot, createPlacementSnapshot, placeGear, releaseUids } from '../../src/core/placement.ts';
import type { PlacementDistrict, PlacementNode, PlacementOrder, PlacementRequest } from '../../src/core/placement.ts';

/** A schedulable small node in district 'east' with 100 slots, unless told otherwise. */
function node(name: string, overrides: Partial<PlacementNode> = {}): PlacementNode {
  return { id: name, name, gearProfile: 'small', districtId: 'east', state: 'active', maxActiveGears: 100, activeGears: 0, ...overrides };
}

function district(name: string, overrides: Partial<PlacementDistrict> = {}): PlacementDistrict {
  return { id: name, name, gearProfile: 'small', availableUids: 6000, ...overrides };
}

interface Input {
  nodes: PlacementNode[];
  districts: PlacementDistrict[];
  request?: Partial<PlacementRequest>;
  /** Gears of other apps placed and applied, one by one, before the request under test. */
  placedBefore?: number;
  /** The snapshot's placement order (default least-loaded). */
  order?: PlacementOrder;
}

type Want =
  | { node: string; reason?: string }
  | { error: { code: string; context: Record<string, unknown>; message: string } };

const cases: { name: string; input: Input; want: Want }[] = [
  {
    name: 'a single active node of the profile with room is chosen',
    input: { nodes: [node('n1', { activeGears: 3 })], districts: [district('east')] },
    want: { node: 'n1', reason: "node 'n1' is the least loaded active node of profile 'small' in district 'east': 3/100 active gears" },
  },
  {
    name: 'a district with no UIDs left rules out its nodes, however empty they are',
    input: {
      nodes: [node('n1', { districtId: 'east' }), node('n2', { districtId: 'west', activeGears: 90 })],
      districts: [district('east', { availableUids: 0 }), district('west')],
    },
    want: { node: 'n2' },
  },
  {
    name: 'a node of another profile is never chosen, even when it is emptier',
    input: {
      nodes: [node('n1', { gearProfile: 'medium', districtId: 'mid' }), node('n2', { activeGears: 50 })],
      districts: [district('east'), district('mid', { gearProfile: 'medium' })],
    },
    want: { node: 'n2' },
  },
  {
    name: 'deactivated, draining, lost, provisioning and deprovisioning nodes are skipped',
    input: {
      nodes: [
        node('n1', { state: 'deactivated' }),
        node('n2', { state: 'draining' }),
        node('n3', { state: 'lost' }),
        node('n4', { state: 'provisioning' }),
        node('n5', { state: 'deprovisioning' }),
        node('n6', { activeGears: 99 }),
      ],
      districts: [district('east')],
    },
    want: { node: 'n6' },
  },
  {
    name: 'a node at max_active_gears is skipped',
    input: { nodes: [node('n1', { maxActiveGears: 10, activeGears: 10 }), node('n2', { activeGears: 95 })], districts: [district('east')] },
    want: { node: 'n2' },
  },
  {
    name: 'a node with max_active_gears 0 is never a candidate',
    input: { nodes: [node('n1', { maxActiveGears: 0 }), node('n2', { activeGears: 95 })], districts: [district('east')] },
    want: { node: 'n2' },
  },
  {
    name: 'a node without a district is skipped',
    input: { nodes: [node('n1', { districtId: null }), node('n2', { activeGears: 80 })], districts: [district('east')] },
    want: { node: 'n2' },
  },
  {
    name: 'a node in a district of another profile is skipped',
    input: {
      nodes: [node('n1', { districtId: 'mid' }), node('n2', { activeGears: 80 })],
      districts: [district('east'), district('mid', { gearProfile: 'medium' })],
    },
    want: { node: 'n2' },
  },
  {
    name: 'least loaded is by ratio, not by gear count, when max_active_gears differ',
    input: {
      nodes: [
        node('n1', { maxActiveGears: 100, activeGears: 30 }), // 0.30
        node('n2', { maxActiveGears: 10, activeGears: 5 }), // 0.50, fewest gears
        node('n3', { maxActiveGears: 50, activeGears: 20 }), // 0.40
      ],
      districts: [district('east')],
    },
    want: { node: 'n1' },
  },
  {
    name: 'at equal load the node with fewer active gears wins',
    input: { nodes: [node('n1', { maxActiveGears: 100, activeGears: 10 }), node('n2', { maxActiveGears: 10, activeGears: 1 })], districts: [district('east')] },
    want: { node: 'n2' },
  },
  {
    name: 'at equal load and gears the name decides, not the id or the input order',
    input: {
      nodes: [node('zz', { id: 'a-id', name: 'node-b', activeGears: 4 }), node('aa', { id: 'z-id', name: 'node-a', activeGears: 4 })],
      districts: [district('east')],
    },
    want: { node: 'node-a' },
  },
  {
    name: "spread: the new gear goes to a node without the app even if it is slightly more loaded",
    input: {
      nodes: [node('n1', { activeGears: 10 }), node('n2', { activeGears: 11 }), node('n3', { activeGears: 12 })],
      districts: [district('east')],
      request: { appGearsByNode: new Map([['n1', 1]]) },
    },
    want: {
      node: 'n2',
      reason:
        "node 'n2' is the least loaded active node of profile 'small' in district 'east' without a gear of app 'app1' (1 less loaded node holds one already): 11/100 active gears",
    },
  },
  {
    name: 'spread skips every node holding the app, however many are less loaded',
    input: {
      nodes: [node('n1', { activeGears: 1 }), node('n2', { activeGears: 2 }), node('n3', { activeGears: 3 }), node('n4', { activeGears: 90 })],
      districts: [district('east')],
      request: { appGearsByNode: new Map([['n1', 1], ['n2', 3], ['n3', 1]]) },
    },
    want: { node: 'n4' },
  },
  {
    name: 'spread fallback: when every candidate holds the app, the node with the fewest of its gears is chosen',
    input: {
      nodes: [node('n1', { activeGears: 1 }), node('n2', { activeGears: 50 }), node('n3', { activeGears: 2 })],
      districts: [district('east')],
      request: { appGearsByNode: new Map([['n1', 2], ['n2', 1], ['n3', 2]]) },
    },
    want: {
      node: 'n2',
      reason:
        "every candidate node of profile 'small' already holds a gear of app 'app1', so the gears cannot spread further; node 'n2' holds the fewest (1) and is the least loaded of those, in district 'east': 50/100 active gears",
    },
  },
  {
    name: 'spread fallback: when every candidate holds as many gears of the app, the least loaded is chosen',
    input: {
      nodes: [node('n1', { activeGears: 7 }), node('n2', { activeGears: 5 })],
      districts: [district('east')],
      request: { appGearsByNode: new Map([['n1', 1], ['n2', 1]]) },
    },
    want: { node: 'n2' },
  },
  {
    name: 'spread counts only candidates: a node without the app that is full does not stop the fallback',
    input: {
      nodes: [node('n1', { activeGears: 100 }), node('n2', { activeGears: 5 })],
      districts: [district('east')],
      request: { appGearsByNode: new Map([['n2', 1]]) },
    },
    want: { node: 'n2' },
  },
  {
    name: 'excludeNodeIds is hard: an excluded node is not chosen even as the only node without the app',
    input: {
      nodes: [node('n1', { activeGears: 1 }), node('n2', { activeGears: 60 }), node('n3', { activeGears: 70 })],
      districts: [district('east')],
      request: { appGearsByNode: new Map([['n2', 1], ['n3', 1]]), excludeNodeIds: new Set(['n1']) },
    },
    want: { node: 'n2' },
  },
  {
    name: 'excludeNodeIds on the least loaded node moves the gear to the next one',
    input: {
      nodes: [node('n1', { activeGears: 1 }), node('n2', { activeGears: 2 })],
      districts: [district('east')],
      request: { excludeNodeIds: new Set(['n1']) },
    },
    want: { node: 'n2' },
  },
  {
    name: 'a requested district restricts the choice to its nodes',
    input: {
      nodes: [node('n1', { districtId: 'east', activeGears: 1 }), node('n2', { districtId: 'west', activeGears: 70 })],
      districts: [district('east'), district('west')],
      request: { districtId: 'west' },
    },
    want: { node: 'n2', reason: "node 'n2' is the least loaded active node of profile 'small' in district 'west': 70/100 active gears" },
  },
  {
    name: 'UIDs run out after N applied placements, and the next gear goes to another district',
    input: {
      nodes: [node('n1', { districtId: 'east' }), node('n2', { districtId: 'west', activeGears: 90 })],
      districts: [district('east', { availableUids: 3 }), district('west')],
      placedBefore: 3,
    },
    want: { node: 'n2' },
  },
  {
    name: 'UIDs run out after N applied placements in a requested district: no capacity there',
    input: {
      nodes: [node('n1', { districtId: 'east' }), node('n2', { districtId: 'west' })],
      districts: [district('east', { availableUids: 2 }), district('west')],
      request: { districtId: 'east' },
      placedBefore: 2,
    },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small', district: 'east' },
        message: "no node of profile 'small' in district 'east' can take a gear: district 'east' has no UIDs left",
      },
    },
  },
  {
    name: 'a node filled by applied placements leaves the candidates',
    input: {
      nodes: [node('n1', { maxActiveGears: 2 }), node('n2', { maxActiveGears: 100, activeGears: 60 })],
      districts: [district('east')],
      placedBefore: 2,
    },
    want: { node: 'n2' },
  },
  {
    name: 'the error names the profile and why: districts out of UIDs, full nodes, deactivated nodes',
    input: {
      nodes: [
        node('n1', { maxActiveGears: 10, activeGears: 10 }),
        node('n2', { districtId: 'west' }),
        node('n3', { state: 'deactivated' }),
      ],
      districts: [district('east'), district('west', { availableUids: 0 })],
    },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small' },
        message:
          "no node of profile 'small' can take a gear: district 'west' has no UIDs left; node 'n1' is full (10/10 active gears); 1 node is deactivated ('n3')",
      },
    },
  },
  {
    name: 'no node of the profile at all says so, and whether a district of it exists',
    input: { nodes: [node('n1')], districts: [district('east')], request: { gearProfile: 'large' } },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'large' },
        message: "no node of profile 'large' can take a gear: there is no node host of profile 'large' and no district of that profile",
      },
    },
  },
  {
    name: 'all nodes inactive or lost: the error counts them by state',
    input: {
      nodes: [node('n1', { state: 'lost' }), node('n2', { state: 'lost' }), node('n3', { state: 'provisioning' })],
      districts: [district('east')],
    },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small' },
        message: "no node of profile 'small' can take a gear: 1 node is provisioning ('n3'); 2 nodes are lost ('n1', 'n2')",
      },
    },
  },
  {
    name: 'all nodes full: the error lists them with their counts',
    input: {
      nodes: [node('n1', { maxActiveGears: 10, activeGears: 10 }), node('n2', { maxActiveGears: 5, activeGears: 5 })],
      districts: [district('east')],
    },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small' },
        message: "no node of profile 'small' can take a gear: 2 nodes are full ('n1' 10/10, 'n2' 5/5 active gears)",
      },
    },
  },
  {
    name: 'nodes outside any usable district: no district, an unknown one, one of another profile',
    input: {
      nodes: [node('n1', { districtId: null }), node('n2', { districtId: 'ghost' }), node('n3', { districtId: 'mid' })],
      districts: [district('mid', { gearProfile: 'medium' })],
    },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small' },
        message:
          "no node of profile 'small' can take a gear: 1 node is in no district ('n1'); node 'n2' names district 'ghost', which does not exist; node 'n3' is in district 'mid' of profile 'medium'",
      },
    },
  },
  {
    name: 'every candidate excluded: the error says the nodes are excluded from this request',
    input: { nodes: [node('n1')], districts: [district('east')], request: { excludeNodeIds: new Set(['n1']) } },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small' },
        message: "no node of profile 'small' can take a gear: 1 node is excluded from this request ('n1')",
      },
    },
  },
  {
    name: 'a requested district that does not exist is named in the error',
    input: { nodes: [node('n1')], districts: [district('east')], request: { districtId: 'nowhere' } },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small', district: 'nowhere' },
        message: "no node of profile 'small' in district 'nowhere' can take a gear: district 'nowhere' does not exist",
      },
    },
  },
  {
    name: 'a requested district of another profile is named in the error with its profile',
    input: { nodes: [node('n1')], districts: [district('east'), district('mid', { gearProfile: 'medium' })], request: { districtId: 'mid' } },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small', district: 'mid' },
        message: "no node of profile 'small' in district 'mid' can take a gear: district 'mid' serves profile 'medium', not 'small'",
      },
    },
  },
  {
    name: 'a requested district without node hosts says so',
    input: { nodes: [node('n1')], districts: [district('east'), district('west')], request: { districtId: 'west' } },
    want: {
      error: {
        code: 'no_capacity',
        context: { profile: 'small', district: 'west' },
        message: "no node of profile 'small' in district 'west' can take a gear: district 'west' has no node hosts",
      },
    },
  },
  // --- packed (pools the autoscaler manages) ---------------------------------------------------
  {
    name: 'packed: the most allocated node with room takes the gear, so the emptiest gets none',
    input: { order: 'packed', nodes: [node('n1', { activeGears: 10 }), node('n2', { activeGears: 70 }), node('n3', { activeGears: 0 })], districts: [district('east')] },
    want: { node: 'n2', reason: "node 'n2' is the most allocated active node of profile 'small' in district 'east' with room: 70/100 active gears" },
  },
  {
    name: 'packed: a full node is no candidate; the next fullest takes the gear',
    input: { order: 'packed', nodes: [node('n1', { activeGears: 100 }), node('n2', { activeGears: 40 }), node('n3', { activeGears: 5 })], districts: [district('east')] },
    want: { node: 'n2' },
  },
  {
    name: 'packed: spread still comes first — the fullest node without a gear of the app',
    input: {
      order: 'packed',
      nodes: [node('n1', { activeGears: 90 }), node('n2', { activeGears: 60 }), node('n3', { activeGears: 10 })],
      districts: [district('east')],
      request: { appGearsByNode: new Map([['n1', 1]]) },
    },
    want: { node: 'n2', reason: "node 'n2' is the most allocated active node of profile 'small' in district 'east' without a gear of app 'app1' (1 fuller node holds one already): 60/100 active gears" },
  },
  {
    name: 'packed: load is a ratio — 45/50 is fuller than 60/100',
    input: { order: 'packed', nodes: [node('n1', { activeGears: 60 }), node('n2', { activeGears: 45, maxActiveGears: 50 })], districts: [district('east')] },
    want: { node: 'n2' },
  },
  {
    name: 'packed: gears placed one after another fill one node before the next',
    input: { order: 'packed', nodes: [node('n1', { activeGears: 97 }), node('n2', { activeGears: 50 })], districts: [district('east')], placedBefore: 3 },
    want: { node: 'n2' },
  },
];

function requestFor(input: Input): PlacementRequest {
  return { appId: 'app1', gearProfile: 'small', appGearsByNode: new Map(), ...input.request };
}

describe('placeGear', () => {
  for (const { name, input, want } of cases) {
    test(name, () => {
      const snapshot = createPlacementSnapshot({ nodes: input.nodes, districts: input.districts, ...(input.order === undefined ? {} : { order: input.order }) });
      for (let i = 0; i < (input.placedBefore ?? 0); i++) {
        const before = placeGear(snapshot, { appId: `other${i}`, gearProfile: 'small', appGearsByNode: new Map(), ...(input.request?.districtId === undefined ? {} : { districtId: input.request.districtId }) });
        applyPlacement(snapshot, before);
      }
      const request = requestFor(input);
      if ('error' in want) {
        assert.throws(
          () => placeGear(snapshot, request),
          (error: unknown) => {
            assert.ok(error instanceof ExhaustedError, `expected ExhaustedError, got ${String(error)}`);
            assert.equal(error.code, want.error.code);
            assert.equal(error.category, 'exhausted');
            assert.deepEqual(error.context, want.error.context);
            assert.equal(error.message, want.error.message);
            return true;
          },
        );
      } else {
        const placement = placeGear(snapshot, request);
        assert.equal(placement.nodeName, want.node);
        assert.equal(placement.kind, 'place');
        if (want.reason !== undefined) assert.equal(placement.reason, want.reason);
      }
    });
  }
});

describe('placement snapshot', () => {
  test('placeGear is pure: the same request twice gives the same placement and counts nothing', () => {
    const snapshot = createPlacementSnapshot({ nodes: [node('n1', { activeGears: 4 }), node('n2', { activeGears: 5 })], districts: [district('east', { availableUids: 10 })] });
    const request = requestFor({ nodes: [], districts: [] });
    const first = placeGear(snapshot, request);
    assert.deepEqual(placeGear(snapshot, request), first);
    assert.equal(snapshot.node('n1')?.activeGears, 4);
    assert.equal(snapshot.district('east')?.availableUids, 10);
    assert.ok(Object.isFrozen(first));
  });

  test('applyPlacement counts one active gear on the node and one UID fewer in its district', () => {
    const nodes = [node('n1', { activeGears: 4 })];
    const snapshot = createPlacementSnapshot({ nodes, districts: [district('east', { availableUids: 10 })] });
    applyPlacement(snapshot, placeGear(snapshot, requestFor({ nodes: [], districts: [] })));
    assert.equal(snapshot.node('n1')?.activeGears, 5);
    assert.equal(snapshot.district('east')?.availableUids, 9);
    assert.equal(nodes[0]?.activeGears, 4, 'the input is copied, not changed');
  });

  test('placements spread over equal nodes as they are applied, in name order', () => {
    const snapshot = createPlacementSnapshot({ nodes: [node('c'), node('a'), node('b')], districts: [district('east')] });
    const chosen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const placement = placeGear(snapshot, { appId: `app${i}`, gearProfile: 'small', appGearsByNode: new Map() });
      applyPlacement(snapshot, placement);
      chosen.push(placement.nodeName);
    }
    assert.deepEqual(chosen, ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  test('applying a placement that no longer fits is a stale_placement conflict', () => {
    const snapshot = createPlacementSnapshot({ nodes: [node('n1', { maxActiveGears: 1 })], districts: [district('east')] });
    const placement = placeGear(snapshot, requestFor({ nodes: [], districts: [] }));
    applyPlacement(snapshot, placement);
    assert.throws(() => applyPlacement(snapshot, placement), (error: unknown) => error instanceof ConflictError && error.code === 'stale_placement');
    assert.equal(snapshot.node('n1')?.activeGears, 1);
  });

  test('a node id given twice is an input error', () => {
    assert.throws(() => createPlacementSnapshot({ nodes: [node('n1'), node('n1')], districts: [district('east')] }), InputError);
  });

  test('a snapshot not made by createPlacementSnapshot is refused', () => {
    const fake = { node: () => undefined, district: () => undefined };
    assert.throws(() => placeGear(fake, requestFor({ nodes: [], districts: [] })), InputError);
  });

  test('a clone has the current counts and changes independently of the original', () => {
    const snapshot = createPlacementSnapshot({ nodes: [node('n1', { activeGears: 4 }), node('n2', { activeGears: 5 })], districts: [district('east', { availableUids: 10 })] });
    applyPlacement(snapshot, placeGear(snapshot, requestFor({ nodes: [], districts: [] })));
    const clone = clonePlacementSnapshot(snapshot);
    assert.equal(clone.node('n1')?.activeGears, 5);
    applyPlacement(clone, placeGear(clone, requestFor({ nodes: [], districts: [] })));
    assert.equal(clone.node('n1')?.activeGears, 6);
    assert.equal(clone.district('east')?.availableUids, 8);
    assert.equal(snapshot.node('n1')?.activeGears, 5);
    assert.equal(snapshot.district('east')?.availableUids, 9);
  });

  test("releaseUids makes a district's nodes candidates again once it had none left", () => {
    const snapshot = createPlacementSnapshot({ nodes: [node('n1'), node('n2', { districtId: 'west', activeGears: 90 })], districts: [district('east', { availableUids: 0 }), district('west')] });
    assert.equal(placeGear(snapshot, requestFor({ nodes: [], districts: [] })).nodeName, 'n2');
    releaseUids(snapshot, 'east', 1);
    const placement = placeGear(snapshot, requestFor({ nodes: [], districts: [] }));
    assert.equal(placement.nodeName, 'n1');
    applyPlacement(snapshot, placement);
    assert.equal(placeGear(snapshot, requestFor({ nodes: [], districts: [] })).nodeName, 'n2', 'the released UID is taken again');
    assert.throws(() => releaseUids(snapshot, 'nowhere', 1), InputError);
  });

  test('an inactive gear takes a UID but no slot, and goes to a full active node only when none has a slot', () => {
    const snapshot = createPlacementSnapshot({ nodes: [node('n1', { maxActiveGears: 2, activeGears: 2 }), node('n2', { maxActiveGears: 2, activeGears: 1 })], districts: [district('east', { availableUids: 10 })] });
    const stopped = { ...requestFor({ nodes: [], districts: [] }), active: false };
    const first = placeGear(snapshot, stopped);
    assert.equal(first.nodeName, 'n2', 'a node with a slot first');
    applyPlacement(snapshot, first, { active: false });
    assert.equal(snapshot.node('n2')?.activeGears, 1);
    assert.equal(snapshot.district('east')?.availableUids, 9);
    applyPlacement(snapshot, placeGear(snapshot, requestFor({ nodes: [], districts: [] })));
    const second = placeGear(snapshot, stopped);
    assert.equal(second.nodeName, 'n1', 'both full: the least loaded by name');
    assert.match(second.reason, /has an active slot left; node 'n1' is the least loaded .* not active and needs no slot/);
    applyPlacement(snapshot, second, { active: false });
    assert.throws(() => applyPlacement(snapshot, second), (error: unknown) => error instanceof ConflictError && error.code === 'stale_placement', 'counted as active it does not fit');
    assert.throws(() => placeGear(snapshot, requestFor({ nodes: [], districts: [] })), ExhaustedError, 'an active gear still finds no room');
  });
});

// The indexed planner against a naive reference: random snapshots from a seeded PRNG, thousands
// of placements with applyPlacement in between; the two must agree on every single choice, in
// both placement orders. The reference is written from the rules, independently of the heap:
// filter, then take the minimum of (gears of the app, activeGears / maxActiveGears, activeGears,
// name) — least-loaded — or of (gears of the app, −load, −activeGears, name) — packed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExhaustedError } from '../../src/core/errors.ts';
import type { NodeState } from '../../src/core/model.ts';
import { MAX_SPREAD_WALK, PLACEMENT_ORDERS, applyPlacement, createPlacementSnapshot, placeGear } from '../../src/core/placement.ts';
import type { PlacementDistrict, PlacementNode, PlacementOrder, PlacementRequest, PlacementSnapshot } from '../../src/core/placement.ts';
import { seededRandom } from '../../src/core/seeded-random.ts';

/** Seeded, so shuffled test data is reproducible. */
function createRandom(seed: number): { next(): number; int(below: number): number; pick<T>(items: readonly T[]): T } {
  const next = seededRandom(seed);
  return { next, int: (below) => Math.floor(next() * below), pick: (items) => items[Math.floor(next() * items.length)]! };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function referencePlace(nodes: readonly PlacementNode[], districts: ReadonlyMap<string, PlacementDistrict>, request: PlacementRequest, order: PlacementOrder): string | undefined {
  let best: { id: string; key: [number, number, number, string] } | undefined;
  for (const node of nodes) {
    if (node.state !== 'active' || node.gearProfile !== request.gearProfile || node.districtId === null) continue;
    const district = districts.get(node.districtId);
    if (district === undefined || district.gearProfile !== request.gearProfile || district.availableUids <= 0) continue;
    if (request.districtId !== undefined && node.districtId !== request.districtId) continue;
    if (node.activeGears >= node.maxActiveGears) continue;
    if (request.excludeNodeIds?.has(node.id)) continue;
    const sign = order === 'packed' ? -1 : 1;
    const key: [number, number, number, string] = [request.appGearsByNode.get(node.id) ?? 0, (sign * node.activeGears) / node.maxActiveGears, sign * node.activeGears, node.name];
    if (best === undefined || lessThan(key, best.key)) best = { id: node.id, key };
  }
  return best?.id;
}

function lessThan(a: [number, number, number, string], b: [number, number, number, string]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return true;
    if (a[i]! > b[i]!) return false;
  }
  return false;
}

interface World {
  nodes: Mutable<PlacementNode>[];
  districts: Map<string, Mutable<PlacementDistrict>>;
}

function randomWorld(random: ReturnType<typeof createRandom>): World {
  const profiles = ['small', 'small', 'small', 'medium'];
  const districts = new Map<string, Mutable<PlacementDistrict>>();
  const districtCount = 1 + random.int(5);
  for (let i = 0; i < districtCount; i++) {
    // Some districts are nearly out of UIDs so exhaustion happens during the run.
    const availableUids = random.next() < 0.4 ? random.int(30) : 1000 + random.int(5000);
    districts.set(`d${i}`, { id: `d${i}`, name: `district-${i}`, gearProfile: random.pick(profiles), availableUids });
  }
  const states: NodeState[] = ['active', 'active', 'active', 'active', 'active', 'active', 'deactivated', 'draining', 'lost', 'provisioning'];
  const nodes: Mutable<PlacementNode>[] = [];
  const nodeCount = 1 + random.int(80);
  for (let i = 0; i < nodeCount; i++) {
    const maxActiveGears = random.pick([0, 1, 3, 5, 10, 10, 20, 50, 100, 100]);
    const districtRoll = random.next();
    const districtId = districtRoll < 0.05 ? null : districtRoll < 0.08 ? 'unknown-district' : `d${random.int(districtCount)}`;
    // Ids and names in unrelated orders, so a tie broken by id instead of name would show.
    nodes.push({
      id: `id-${(i * 7919) % 10007}`,
      name: `node-${String(random.int(1_000_000)).padStart(7, '0')}-${i}`,
      gearProfile: random.pick(profiles),
      districtId,
      state: random.pick(states),
      maxActiveGears,
      activeGears: random.int(maxActiveGears + 2),
    });
  }
  return { nodes, districts };
}

function snapshotOf(world: World, order: PlacementOrder): PlacementSnapshot {
  return createPlacementSnapshot({ order, nodes: world.nodes.map((node) => ({ ...node })), districts: [...world.districts.values()].map((district) => ({ ...district })) });
}

/** Places through both planners, asserts they agree, applies to both. Returns the node chosen. */
function placeBoth(world: World, snapshot: PlacementSnapshot, request: PlacementRequest, label: string, order: PlacementOrder): string | undefined {
  const want = referencePlace(world.nodes, world.districts, request, order);
  let got: string | undefined;
  try {
    const placement = placeGear(snapshot, request);
    got = placement.nodeId;
    applyPlacement(snapshot, placement);
  } catch (error) {
    if (!(error instanceof ExhaustedError)) throw error;
    got = undefined;
  }
  assert.equal(got, want, `${label}: indexed planner chose ${got}, the reference ${want}`);
  if (want !== undefined) {
    const node = world.nodes.find((candidate) => candidate.id === want)!;
    node.activeGears += 1;
    world.districts.get(node.districtId!)!.availableUids -= 1;
  }
  return want;
}

for (const order of PLACEMENT_ORDERS) {
  test(`${order}: the indexed planner agrees with a linear scan over random snapshots and placements`, () => {
    let placements = 0;
    let failures = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const random = createRandom(seed);
      const world = randomWorld(random);
      const snapshot = snapshotOf(world, order);
      const apps = new Map<string, Map<string, number>>();
      for (let step = 0; step < 200; step++) {
        const appId = apps.size > 0 && random.next() < 0.7 ? random.pick([...apps.keys()]) : `app-${step}`;
        const held = apps.get(appId) ?? new Map<string, number>();
        apps.set(appId, held);
        const districtRoll = random.next();
        const districtId = districtRoll < 0.15 ? random.pick([...world.districts.keys()]) : districtRoll < 0.17 ? 'unknown-district' : undefined;
        const excludeNodeIds = random.next() < 0.2 ? new Set(world.nodes.filter(() => random.next() < 0.2).map((node) => node.id)) : undefined;
        const request: PlacementRequest = {
          appId,
          gearProfile: random.next() < 0.85 ? 'small' : random.pick(['medium', 'large']),
          appGearsByNode: held,
          ...(districtId === undefined ? {} : { districtId }),
          ...(excludeNodeIds === undefined ? {} : { excludeNodeIds }),
        };
        const chosen = placeBoth(world, snapshot, request, `seed ${seed} step ${step}`, order);
        if (chosen === undefined) failures += 1;
        else {
          placements += 1;
          held.set(chosen, (held.get(chosen) ?? 0) + 1);
        }
      }
      // The snapshot's own counts match the reference's after all that.
      for (const node of world.nodes) assert.equal(snapshot.node(node.id)?.activeGears, node.activeGears);
      for (const district of world.districts.values()) assert.equal(snapshot.district(district.id)?.availableUids, district.availableUids);
    }
    // Both outcomes must have been exercised for the comparison to mean something.
    assert.ok(placements > 10_000, `only ${placements} placements`);
    assert.ok(failures > 100, `only ${failures} failures`);
  });

  test(`${order}: an app wider than the spread walk (${MAX_SPREAD_WALK} nodes) still gets the exact choice`, () => {
    const random = createRandom(42);
    const nodes: Mutable<PlacementNode>[] = [];
    for (let i = 0; i < MAX_SPREAD_WALK * 2 + 50; i++) {
      const maxActiveGears = random.pick([10, 20, 50]);
      nodes.push({ id: `n${i}`, name: `node-${i}`, gearProfile: 'small', districtId: `d${i % 3}`, state: 'active', maxActiveGears, activeGears: random.int(maxActiveGears) });
    }
    const districts = new Map<string, Mutable<PlacementDistrict>>();
    for (let i = 0; i < 3; i++) districts.set(`d${i}`, { id: `d${i}`, name: `district-${i}`, gearProfile: 'small', availableUids: 100_000 });
    const world: World = { nodes, districts };
    const snapshot = snapshotOf(world, order);
    const held = new Map<string, number>();
    // Enough gears of one app to cover every node twice: the walk, the scan past it, the fallback.
    for (let step = 0; step < nodes.length * 2 + 10; step++) {
      const request: PlacementRequest = { appId: 'wide', gearProfile: 'small', appGearsByNode: held, ...(step % 5 === 0 ? { excludeNodeIds: new Set([`n${step % nodes.length}`]) } : {}) };
      const chosen = placeBoth(world, snapshot, request, `step ${step}`, order);
      if (chosen !== undefined) held.set(chosen, (held.get(chosen) ?? 0) + 1);
      // Other apps keep loading the nodes meanwhile.
      placeBoth(world, snapshot, { appId: `other-${step}`, gearProfile: 'small', appGearsByNode: new Map() }, `other ${step}`, order);
    }
    assert.ok(held.size > MAX_SPREAD_WALK, `the app reached only ${held.size} nodes`);
  });
}

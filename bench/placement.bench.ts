/**
 * The placement planner at 10,000 node hosts: snapshot build time, and placeGear + applyPlacement
 * throughput with the spread rule at work (apps of 1–5 gears, each gear placed knowing where the
 * app's earlier gears went), as the broker runs it when apps are created and scaled.
 *
 * The cluster: 9,500 small nodes in 10 districts, 500 medium nodes in 2, max_active_gears of
 * 50/100/200, loads of 20–80 %, a few nodes deactivated or lost. Districts get UID pools sized to
 * their nodes (60,000), not OpenShift's default 6,000, which would cover only ~60 nodes each.
 */
import { applyPlacement, createPlacementSnapshot, placeGear } from '../src/core/placement.ts';
import type { PlacementDistrict, PlacementNode, PlacementRequest, PlacementSnapshot } from '../src/core/placement.ts';
import type { NodeState } from '../src/core/model.ts';
import type { BenchResult } from './run.ts';
import { seededRandom } from '../src/core/seeded-random.ts';

const SMALL_DISTRICTS = 10;
const SMALL_NODES_PER_DISTRICT = 950;
const MEDIUM_DISTRICTS = 2;
const MEDIUM_NODES_PER_DISTRICT = 250;
const UIDS_PER_DISTRICT = 60_000;
const WARM_UP_PLACEMENTS = 50_000;
const TIMED_PLACEMENTS = 200_000;
const ROUNDS = 3;
const BUILD_REPEATS = 15;


function buildCluster(random: () => number): { nodes: PlacementNode[]; districts: PlacementDistrict[] } {
  const districts: PlacementDistrict[] = [];
  const nodes: PlacementNode[] = [];
  const addPool = (profile: string, districtCount: number, nodesPerDistrict: number): void => {
    for (let d = 0; d < districtCount; d++) {
      const districtId = `${profile}-district-${d}`;
      districts.push({ id: districtId, name: districtId, gearProfile: profile, availableUids: UIDS_PER_DISTRICT });
      for (let n = 0; n < nodesPerDistrict; n++) {
        const maxActiveGears = [50, 100, 100, 200][Math.floor(random() * 4)]!;
        const roll = random();
        const state: NodeState = roll < 0.02 ? 'deactivated' : roll < 0.03 ? 'lost' : 'active';
        nodes.push({
          id: `${districtId}-node-${n}`,
          name: `${profile}-${d}-${String(n).padStart(4, '0')}.example.net`,
          gearProfile: profile,
          districtId,
          state,
          maxActiveGears,
          activeGears: Math.floor(maxActiveGears * (0.2 + 0.6 * random())),
        });
      }
    }
  };
  addPool('small', SMALL_DISTRICTS, SMALL_NODES_PER_DISTRICT);
  addPool('medium', MEDIUM_DISTRICTS, MEDIUM_NODES_PER_DISTRICT);
  return { nodes, districts };
}

/** An app to create: its profile, gear count, and (one in ten) a district it must stay in. */
interface AppRequest {
  readonly appId: string;
  readonly gearProfile: string;
  readonly gears: number;
  readonly districtId?: string;
}

function buildApps(random: () => number, placements: number, prefix: string): AppRequest[] {
  const apps: AppRequest[] = [];
  let total = 0;
  while (total < placements) {
    const gears = Math.min(1 + Math.floor(random() * 5), placements - total);
    const medium = random() < 0.05;
    const pinned = random() < 0.1;
    const districtId = pinned ? (medium ? `medium-district-${Math.floor(random() * MEDIUM_DISTRICTS)}` : `small-district-${Math.floor(random() * SMALL_DISTRICTS)}`) : undefined;
    apps.push({ appId: `${prefix}-${apps.length}`, gearProfile: medium ? 'medium' : 'small', gears, ...(districtId === undefined ? {} : { districtId }) });
    total += gears;
  }
  return apps;
}

/** Places every gear of every app; returns how many were placed. */
function placeApps(snapshot: PlacementSnapshot, apps: readonly AppRequest[]): number {
  let placed = 0;
  for (const app of apps) {
    const appGearsByNode = new Map<string, number>();
    const request: PlacementRequest = { appId: app.appId, gearProfile: app.gearProfile, appGearsByNode, ...(app.districtId === undefined ? {} : { districtId: app.districtId }) };
    for (let gear = 0; gear < app.gears; gear++) {
      const placement = placeGear(snapshot, request);
      applyPlacement(snapshot, placement);
      appGearsByNode.set(placement.nodeId, (appGearsByNode.get(placement.nodeId) ?? 0) + 1);
      placed += 1;
    }
  }
  return placed;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export default async function run(): Promise<BenchResult[]> {
  const random = seededRandom(20_240_601);
  const cluster = buildCluster(random);

  // Snapshot build: the planner's fixed cost per planning pass.
  const buildTimes: number[] = [];
  for (let i = 0; i < BUILD_REPEATS + 3; i++) {
    const start = process.hrtime.bigint();
    createPlacementSnapshot(cluster);
    if (i >= 3) buildTimes.push(elapsedMs(start)); // the first builds warm the JIT up
  }

  // Warm-up on a snapshot of its own, so the timed rounds start from the same realistic loads.
  placeApps(createPlacementSnapshot(cluster), buildApps(random, WARM_UP_PLACEMENTS, 'warm'));

  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const apps = buildApps(random, TIMED_PLACEMENTS, `round${round}`);
    const snapshot = createPlacementSnapshot(cluster);
    const start = process.hrtime.bigint();
    const placed = placeApps(snapshot, apps);
    const ms = elapsedMs(start);
    rates.push(placed / (ms / 1000));
    console.error(`  round ${round + 1}: ${placed} placements in ${ms.toFixed(1)} ms`);
  }

  const nodeCount = cluster.nodes.length.toLocaleString('en-US');
  return [
    {
      name: `placeGear + applyPlacement, ${nodeCount} nodes, apps of 1–5 gears`,
      value: median(rates),
      unit: 'placements/s',
      target: { atLeast: 100_000 },
      note: `median of ${ROUNDS} rounds of ${TIMED_PLACEMENTS.toLocaleString('en-US')} placements; rounds: ${rates.map((rate) => Math.round(rate).toLocaleString('en-US')).join(', ')}/s`,
    },
    {
      name: `createPlacementSnapshot, ${nodeCount} nodes`,
      value: median(buildTimes),
      unit: 'ms',
      target: { atMost: 50 },
      note: `median of ${BUILD_REPEATS} builds; min ${Math.min(...buildTimes).toFixed(2)} ms, max ${Math.max(...buildTimes).toFixed(2)} ms`,
    },
  ];
}

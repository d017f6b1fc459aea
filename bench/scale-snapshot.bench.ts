/**
 * What one autoscaler pass reads from the store for a pool (issue 5's 10,000-node scale, on the
 * embedded SQLite store): `loadScaleSnapshot` over 2,000 node hosts holding 100,000 gears, in an
 * under-used pool (the path that reads gears: the scale-down candidates'). Every node's gear
 * counts are read; the gears themselves only for the few candidates and the apps on them.
 *
 * For comparison, the time to read every gear of the store (`listGears()`), which is what a pass
 * read before it read only the candidates'. Median of 10 passes after 2 of warm-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pino from 'pino';

import type { PoolConfig } from '../src/broker/broker-config.ts';
import { loadScaleSnapshot } from '../src/broker/scale-snapshot.ts';
import { EMPTY_POOL_MEMORY } from '../src/core/scale-plan.ts';
import { openStore } from '../src/store/open-store.ts';
import type { App, District } from '../src/core/model.ts';
import type { Store } from '../src/store/store.ts';
import { testScalePolicy } from '../test/support/scale-policy.ts';
import type { BenchResult } from './run.ts';

const NODES = 2000;
const GEARS_PER_NODE = 50;
const GEARS_PER_APP = 5;
const NOW = Date.parse('2026-12-01T12:00:00Z');
const POOL: PoolConfig = { name: 'small', gearProfile: 'small', district: null, minNodes: 1, maxNodes: 10_000, maxActiveGears: 100, flavor: null };
const POLICY = testScalePolicy({ pool: 'small', gearProfile: 'small', maxNodes: 10_000, maxActiveGearsPerNode: 100 });

export default async function run(): Promise<BenchResult[]> {
  const directory = mkdtempSync(join(tmpdir(), 'geartide-snapshot-bench-'));
  const store = await openStore(`sqlite:${join(directory, 'store.db')}`);
  try {
    const seeded = process.hrtime.bigint();
    const gears = await seed(store);
    console.error(`scale-snapshot: seeded ${NODES} nodes and ${gears} gears in ${(Number(process.hrtime.bigint() - seeded) / 1e9).toFixed(1)} s`);
    await store.savePoolMemory(POOL.name, { ...EMPTY_POOL_MEMORY, underusedSince: NOW }, NOW);
    const log = pino({ level: 'silent' });
    const noQuota = { headroom: async () => ({ nodes: null }) };

    const snapshot = await median(() => loadScaleSnapshot(store, POOL, POLICY, noQuota, log, NOW + 3_600_000));
    const everyGear = await median(() => store.listGears());
    return [
      {
        name: `autoscaler snapshot of a pool, ${NODES} nodes / ${gears} gears, SQLite`,
        value: snapshot,
        unit: 'ms',
        note: `median of 10 passes; the gears of at most 8 scale-down candidates and their apps are read`,
      },
      { name: `reading every gear instead (what a pass read before), ${gears} gears`, value: everyGear, unit: 'ms', note: 'median of 10' },
    ];
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function median(work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < 12; run++) {
    const started = process.hrtime.bigint();
    await work();
    if (run >= 2) times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/**
 * NODES nodes in 4 districts; nodes go in groups of GEARS_PER_APP that share GEARS_PER_NODE apps,
 * each app with one gear on every node of its group (spread, as placement leaves an app).
 */
async function seed(store: Store): Promise<number> {
  const user = await store.createUser({ login: 'bench', role: 'user', maxGears: 10_000_000, now: NOW });
  const domain = await store.createDomain({ name: 'bench', ownerId: user.id, now: NOW });
  const districts: District[] = [];
  for (let index = 0; index < 4; index++) districts.push(await store.createDistrict({ name: `small-${index}`, gearProfile: 'small', firstUid: 1000, maxCapacity: 60_000, now: NOW }));
  let gears = 0;
  await store.transaction(async (tx) => {
    let apps: App[] = [];
    for (let index = 0; index < NODES; index++) {
      // A group's nodes share a district, so its apps' gears could move among them.
      const district = districts[Math.floor(index / GEARS_PER_APP) % districts.length]!;
      if (index % GEARS_PER_APP === 0) {
        apps = [];
        for (let each = 0; each < GEARS_PER_NODE; each++) {
          apps.push(await tx.createApp({ name: `a${index}x${each}`, domainId: domain.id, cartridge: 'nodejs', gearProfile: 'small', scaleMin: 1, scaleMax: GEARS_PER_APP, desiredState: 'started', now: NOW }));
        }
      }
      const node = await tx.upsertNodeRegistration({ name: `node-${index}`, gearProfile: 'small', maxActiveGears: 100, endpoint: `http://10.0.${index >> 8}.${index & 255}:7000`, scaleEventId: null, credentialHash: `cred-${index}`, now: NOW });
      await tx.setNodeDistrict(node.id, district.id);
      for (const app of apps) {
        const uid = await tx.allocateUid(district.id);
        await tx.createGear({ appId: app.id, nodeId: node.id, districtId: district.id, uid, desiredState: 'started', now: NOW });
        gears += 1;
      }
    }
  });
  return gears;
}

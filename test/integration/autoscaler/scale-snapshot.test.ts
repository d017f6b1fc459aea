// The autoscaler's snapshot as the broker reads it from the store: every node counted, but gears
// read only for the few nodes a scale-down may drain (and the apps on them). The plan must be the
// one a snapshot of every gear gives; what is read must not grow with the pool's gears.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import pino from 'pino';

import type { PoolConfig } from '../../../src/broker/broker-config.ts';
import { loadScaleSnapshot } from '../../../src/broker/scale-snapshot.ts';
import type { DrainGear } from '../../../src/core/drain-plan.ts';
import { EMPTY_POOL_MEMORY, planScale, SCALE_DOWN_CANDIDATES, type ScaleSnapshot } from '../../../src/core/scale-plan.ts';
import type { Store } from '../../../src/store/store.ts';
import { testScalePolicy } from '../../support/scale-policy.ts';
import { withStore } from '../../support/stores.ts';
import { NOW, createApp } from '../store/store-fixtures.ts';

const POOL: PoolConfig = { name: 'small', gearProfile: 'small', district: null, minNodes: 1, maxNodes: 40, maxActiveGears: 10, flavor: null };
const POLICY = testScalePolicy({ pool: 'small', gearProfile: 'small', minNodes: 1, maxNodes: 40, maxActiveGearsPerNode: 10 });
const LATER = NOW + 3_600_000;
const log = pino({ level: 'silent' });
const noQuota = { headroom: async () => ({ nodes: null }) };

/**
 * 20 nodes of 10 slots, each holding 2 to 6 gears of apps spread over a few nodes (some
 * stopped): an under-used pool, where every node is a candidate and the cheapest is drained.
 */
async function seedPool(store: Store): Promise<{ gears: number }> {
  const user = await store.createUser({ login: 'alice', role: 'user', maxGears: 1000, now: NOW });
  const domain = await store.createDomain({ name: 'demo', ownerId: user.id, now: NOW });
  const district = await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: 1000, maxCapacity: 1000, now: NOW });
  const nodes = [];
  for (let index = 0; index < 20; index++) {
    const node = await store.upsertNodeRegistration({ name: `node-${index}`, gearProfile: 'small', maxActiveGears: 10, endpoint: `http://127.0.0.1:${7000 + index}`, scaleEventId: null, credentialHash: `cred-${index}`, now: NOW });
    await store.setNodeDistrict(node.id, district.id);
    nodes.push(node);
  }
  const apps = [];
  for (let index = 0; index < 40; index++) apps.push(await createApp(store, domain.id, `app${index}`));
  let gears = 0;
  for (let index = 0; index < nodes.length; index++) {
    const count = 2 + ((index * 7) % 5);
    for (let each = 0; each < count; each++) {
      // Each app has gears on a few neighbouring nodes, as placement's spread leaves them.
      const app = apps[(2 * index + each) % apps.length]!;
      const uid = await store.allocateUid(district.id);
      await store.createGear({ appId: app.id, nodeId: nodes[index]!.id, districtId: district.id, uid, desiredState: each % 4 === 3 ? 'stopped' : 'started', now: NOW });
      gears += 1;
    }
  }
  return { gears };
}

/** The snapshot with every gear in it: what the loader read before it read only candidates. */
async function withEveryGear(store: Store, snapshot: ScaleSnapshot): Promise<ScaleSnapshot> {
  const byNode = new Map<string, DrainGear[]>();
  const byApp = new Map<string, Map<string, number>>();
  for (const gear of await store.listGears()) {
    byNode.set(gear.nodeId, [...(byNode.get(gear.nodeId) ?? []), { id: gear.id, appId: gear.appId, active: gear.desiredState === 'started' }]);
    const perNode = byApp.get(gear.appId) ?? new Map<string, number>();
    perNode.set(gear.nodeId, (perNode.get(gear.nodeId) ?? 0) + 1);
    byApp.set(gear.appId, perNode);
  }
  return { ...snapshot, gearsOnNode: (nodeId) => byNode.get(nodeId) ?? [], gearsByApp: byApp };
}

describe('the autoscaler snapshot read from the store', () => {
  it('plans as a snapshot of every gear does, reading the gears of at most SCALE_DOWN_CANDIDATES nodes and their apps', () =>
    withStore('sqlite', async (store) => {
      const { gears } = await seedPool(store);
      let rowsRead = 0;
      const counting = new Proxy(store, {
        get(target, key) {
          if (key !== 'listGears') {
            const value = Reflect.get(target, key, target);
            return typeof value === 'function' ? value.bind(target) : value;
          }
          return async (filter?: Parameters<Store['listGears']>[0]) => {
            const rows = await target.listGears(filter);
            rowsRead += rows.length;
            return rows;
          };
        },
      });
      // Under-used since an hour ago: the plan drains the node that is cheapest to empty.
      await store.savePoolMemory('small', { ...EMPTY_POOL_MEMORY, underusedSince: NOW }, NOW);
      const snapshot = await loadScaleSnapshot(counting, POOL, POLICY, noQuota, log, LATER);

      const lazy = planScale(snapshot, POLICY, LATER);
      const full = planScale(await withEveryGear(store, snapshot), POLICY, LATER);
      assert.equal(lazy.kind, 'scale-down', lazy.reason);
      assert.deepEqual(lazy, full);

      assert.equal(snapshot.nodes.length, 20);
      assert.equal(snapshot.nodes.reduce((sum, node) => sum + node.gears, 0), gears, 'every gear is counted');
      const loaded = snapshot.nodes.filter((node) => snapshot.gearsOnNode(node.id).length > 0);
      assert.ok(loaded.length > 0 && loaded.length <= SCALE_DOWN_CANDIDATES, `${loaded.length} nodes' gears read`);
      assert.ok(rowsRead < gears, `${rowsRead} gear rows read of ${gears}`);
    }));
});

// nodes.active_gears (migration 0006) is a counter the store keeps beside the rows it counts:
// gears desired started on a node, plus those moving in. A random run of every change to those
// rows — gears created started or stopped and deleted, apps started, stopped and deleted, moves
// planned, rolled back and completed, within and across districts — must leave it equal, on
// every node, to a count made from the rows themselves.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { App, Gear } from '../../../src/core/model.ts';
import { seededRandom } from '../../../src/core/seeded-random.ts';
import type { Store } from '../../../src/store/store.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, createApp, seedPlatform } from './store-fixtures.ts';

/** What the counter must say, counted from the gears and the moves. */
async function countedFromRows(store: Store, nodeIds: string[]): Promise<Map<string, number>> {
  const counts = new Map(nodeIds.map((id) => [id, 0]));
  const gears = await store.listGears();
  const started = new Set(gears.filter((gear) => gear.desiredState === 'started').map((gear) => gear.id));
  for (const gear of gears) if (started.has(gear.id)) counts.set(gear.nodeId, counts.get(gear.nodeId)! + 1);
  for (const move of await store.listGearMoves()) if (started.has(move.gearId)) counts.set(move.targetNodeId, counts.get(move.targetNodeId)! + 1);
  return counts;
}

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: nodes.active_gears`, { skip: storeSkipReason(dialect) }, () => {
    it('matches a count from the rows after every step of a random run of gear, app and move changes', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store, { uidCapacity: 500 });
        const east = await store.createDistrict({ name: 'small-2', gearProfile: 'small', firstUid: 5000, maxCapacity: 500, now: NOW });
        const nodes = [{ id: platform.node.id, districtId: platform.district.id }];
        for (let index = 2; index <= 4; index++) {
          const node = await store.upsertNodeRegistration({ name: `node-${index}`, gearProfile: 'small', maxActiveGears: 50, endpoint: null, scaleEventId: null, credentialHash: `cred-${index}`, now: NOW });
          const districtId = index === 4 ? east.id : platform.district.id;
          await store.setNodeDistrict(node.id, districtId);
          nodes.push({ id: node.id, districtId });
        }
        const nodeIds = nodes.map((node) => node.id);
        const random = seededRandom(6);
        const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
        const apps: App[] = [platform.app];
        let appCount = 1;
        const steps: string[] = [];

        for (let step = 0; step < 300; step++) {
          const gears: Gear[] = await store.listGears();
          const moving = new Set((await store.listGearMoves()).map((move) => move.gearId));
          const still = gears.filter((gear) => !moving.has(gear.id));
          const roll = random();
          if (roll < 0.3 || gears.length === 0) {
            const node = pick(nodes);
            const app = pick(apps);
            const uid = await store.allocateUid(node.districtId);
            await store.createGear({ appId: app.id, nodeId: node.id, districtId: node.districtId, uid, desiredState: random() < 0.8 ? 'started' : 'stopped', now: NOW });
            steps.push('create gear');
          } else if (roll < 0.4) {
            const gear = pick(gears);
            await store.deleteGear(gear.id);
            steps.push(`delete gear${moving.has(gear.id) ? ' (moving)' : ''}`);
          } else if (roll < 0.5) {
            await store.setAppDesiredState(pick(apps).id, random() < 0.5 ? 'started' : 'stopped');
            steps.push('app start/stop');
          } else if (roll < 0.55 && apps.length > 1) {
            const app = pick(apps);
            await store.deleteApp(app.id);
            apps.splice(apps.indexOf(app), 1);
            steps.push('delete app');
          } else if (roll < 0.6) {
            apps.push(await createApp(store, platform.domain.id, `app${appCount++}`));
            steps.push('create app');
          } else if (roll < 0.8 && still.length > 0) {
            const gear = pick(still);
            const target = pick(nodes.filter((node) => node.id !== gear.nodeId));
            const targetUid = target.districtId === gear.districtId ? gear.uid : await store.allocateUid(target.districtId);
            const operation = await store.createOperation({ kind: 'move', subject: `gear:${gear.id}`, phase: 'planned', data: {}, now: NOW });
            await store.createGearMove({ gearId: gear.id, appId: gear.appId, operationId: operation.id, sourceNodeId: gear.nodeId, targetNodeId: target.id, targetDistrictId: target.districtId, targetUid, token: `t${step}`, phase: 'planned', now: NOW });
            steps.push('plan move');
          } else if (moving.size > 0) {
            const gearId = pick([...moving]);
            if (random() < 0.5) {
              await store.deleteGearMove(gearId);
              steps.push('roll back move');
            } else {
              await store.completeGearMove(gearId, NOW);
              steps.push('complete move');
            }
          } else continue;
          assert.deepEqual(await store.countActiveGearsByNode(nodeIds), await countedFromRows(store, nodeIds), `after step ${step} (${steps.at(-1)}); steps: ${steps.join(', ')}`);
        }
        // The run exercised every kind of change.
        for (const kind of ['create gear', 'delete gear', 'delete gear (moving)', 'app start/stop', 'delete app', 'plan move', 'roll back move', 'complete move']) {
          assert.ok(steps.includes(kind), `no '${kind}' in the run`);
        }
      }));
  });
}

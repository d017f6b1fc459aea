import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EMPTY_POOL_MEMORY, type PoolMemory } from '../../../src/core/scale-plan.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW } from './store-fixtures.ts';

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: the autoscaler's pools and leases`, { skip: storeSkipReason(dialect) }, () => {
    it('a pool never seen has the empty memory; saved memory reads back', () =>
      withStore(dialect, async (store) => {
        assert.deepEqual(await store.getPoolMemory('small'), EMPTY_POOL_MEMORY);
        const memory: PoolMemory = {
          ...EMPTY_POOL_MEMORY,
          underusedSince: NOW - 1000,
          lastScaleUpAt: NOW - 5000,
          failures: 2,
          lastFailureAt: NOW - 10,
          lastFailure: 'Quota exceeded for instances',
          exhausted: { reason: 'Quota exceeded for instances', since: NOW - 10 },
        };
        await store.savePoolMemory('small', memory, NOW);
        assert.deepEqual(await store.getPoolMemory('small'), memory);
        assert.deepEqual(await store.getPoolMemory('medium'), EMPTY_POOL_MEMORY, 'pools are separate');
      }));

    it('pause and refusals have their own writers: saving the memory keeps them', () =>
      withStore(dialect, async (store) => {
        await store.setPoolPaused('small', { by: 'admin', at: NOW }, NOW);
        await store.recordUnplaced('small', { gears: 3, district: 'east', now: NOW + 1 });
        // The leader saves what it planned from an older read: pause and refusal must survive.
        await store.savePoolMemory('small', { ...EMPTY_POOL_MEMORY, lastScaleDownAt: NOW + 2 }, NOW + 2);
        const memory = await store.getPoolMemory('small');
        assert.deepEqual(memory.paused, { by: 'admin', at: NOW });
        assert.deepEqual(memory.unplaced, { gears: 3, district: 'east', at: NOW + 1 });
        assert.equal(memory.lastScaleDownAt, NOW + 2);

        await store.setPoolPaused('small', null, NOW + 3);
        await store.recordUnplaced('small', { gears: 1, district: null, now: NOW + 4 });
        const resumed = await store.getPoolMemory('small');
        assert.equal(resumed.paused, null);
        assert.deepEqual(resumed.unplaced, { gears: 1, district: null, at: NOW + 4 });
        assert.equal(resumed.lastScaleDownAt, NOW + 2);
      }));

    it('a lease goes to one holder at a time, is renewed by it, and is taken over once expired or released', () =>
      withStore(dialect, async (store) => {
        const take = (holder: string, now: number) => store.acquireLease({ name: 'autoscaler', holder, ttlMs: 1000, now });
        assert.equal(await take('broker-a', NOW), true);
        assert.equal(await take('broker-b', NOW + 10), false, 'held by a');
        assert.equal(await take('broker-a', NOW + 900), true, 'a renews');
        assert.equal(await take('broker-b', NOW + 1500), false, 'still a\'s: renewed until NOW + 1900');
        assert.equal(await take('broker-b', NOW + 2000), true, 'expired: b takes it');
        assert.equal(await take('broker-a', NOW + 2001), false, 'a lost it');
        await store.releaseLease('autoscaler', 'broker-a');
        assert.equal(await take('broker-a', NOW + 2002), false, 'a cannot release what b holds');
        await store.releaseLease('autoscaler', 'broker-b');
        assert.equal(await take('broker-a', NOW + 2003), true, 'released: taken at once');
      }));

    it('two brokers racing for a free lease: exactly one wins', () =>
      withStore(dialect, async (store) => {
        const results = await Promise.all(['a', 'b', 'c', 'd'].map((holder) => store.acquireLease({ name: 'race', holder, ttlMs: 1000, now: NOW })));
        assert.equal(results.filter(Boolean).length, 1);
      }));
  });
}

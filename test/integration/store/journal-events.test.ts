import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError, NotFoundError } from '../../../src/core/errors.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, assertRejectsWith } from './store-fixtures.ts';

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: operations journal and events`, { skip: storeSkipReason(dialect) }, () => {
    it('creates a running operation and reads it back', () =>
      withStore(dialect, async (store) => {
        const operation = await store.createOperation({ kind: 'gear.move', subject: 'gear:abc', phase: 'start-target', data: { from: 'node-1', to: 'node-2' }, now: NOW });
        const expected = {
          id: operation.id,
          kind: 'gear.move',
          subject: 'gear:abc',
          phase: 'start-target',
          status: 'running',
          data: { from: 'node-1', to: 'node-2' },
          error: null,
          createdAt: NOW,
          updatedAt: NOW,
        };
        assert.deepEqual(operation, expected);
        assert.deepEqual(await store.getOperation(operation.id), expected);
        assert.equal(await store.getOperation('nope'), undefined);
      }));

    it('writes the next phase and merges data, keeping what it is not given', () =>
      withStore(dialect, async (store) => {
        const operation = await store.createOperation({ kind: 'gear.move', subject: 'gear:abc', phase: 'start-target', data: { from: 'node-1', to: 'node-2', attempt: 1 }, now: NOW });
        const switched = await store.updateOperation(operation.id, { phase: 'switch-route', data: { targetEndpoint: '10.0.0.2:35001', attempt: 2 }, now: NOW + 10 });
        assert.equal(switched.phase, 'switch-route');
        assert.equal(switched.status, 'running');
        assert.deepEqual(switched.data, { from: 'node-1', to: 'node-2', attempt: 2, targetEndpoint: '10.0.0.2:35001' });
        assert.equal(switched.updatedAt, NOW + 10);
        assert.equal(switched.createdAt, NOW);

        const failed = await store.updateOperation(operation.id, { status: 'failed', error: 'target node refused the snapshot', now: NOW + 20 });
        assert.equal(failed.phase, 'switch-route', 'phase kept when not given');
        assert.deepEqual(failed.data, switched.data, 'data kept when not given');
        assert.equal(failed.error, 'target node refused the snapshot');

        const cleared = await store.updateOperation(operation.id, { status: 'rolled-back', error: null, now: NOW + 30 });
        assert.equal(cleared.error, null);
        assert.deepEqual(await store.getOperation(operation.id), cleared);
        await assertRejectsWith(store.updateOperation('nope', { phase: 'x', now: NOW }), NotFoundError, 'operation_not_found');
      }));

    it('lists operations by status and kind, oldest first', () =>
      withStore(dialect, async (store) => {
        const move = await store.createOperation({ kind: 'gear.move', subject: 'gear:a', phase: 'p', data: {}, now: NOW });
        const up = await store.createOperation({ kind: 'scale.up', subject: 'profile:small', phase: 'p', data: {}, now: NOW + 1 });
        const down = await store.createOperation({ kind: 'scale.down', subject: 'node:n', phase: 'p', data: {}, now: NOW + 2 });
        await store.updateOperation(up.id, { status: 'succeeded', now: NOW + 3 });
        await store.updateOperation(down.id, { status: 'failed', now: NOW + 3 });

        const ids = async (filter?: Parameters<typeof store.listOperations>[0]) => (await store.listOperations(filter)).map((operation) => operation.id);
        assert.deepEqual(await ids(), [move.id, up.id, down.id]);
        assert.deepEqual(await ids({ status: ['running'] }), [move.id]);
        assert.deepEqual(await ids({ status: ['succeeded', 'failed'] }), [up.id, down.id]);
        assert.deepEqual(await ids({ kind: 'scale.up' }), [up.id]);
        assert.deepEqual(await ids({ kind: 'scale.up', status: ['running'] }), []);
        assert.deepEqual(await ids({ status: [] }), []);
      }));

    it('appends events with increasing ids and resumes after a cursor', () =>
      withStore(dialect, async (store) => {
        const appended = [];
        for (let i = 0; i < 5; i++) {
          appended.push(await store.appendEvent({ kind: 'app.created', severity: 'info', subject: `app:demo/a${i}`, message: `app a${i} created`, userId: null, data: { i }, now: NOW + i }));
        }
        const ids = appended.map((event) => event.id);
        assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), `ids increase: ${ids.join(',')}`);
        assert.deepEqual(appended[2], { id: ids[2], time: NOW + 2, kind: 'app.created', severity: 'info', subject: 'app:demo/a2', message: 'app a2 created', userId: null, data: { i: 2 } });

        assert.deepEqual(await store.listEvents({ limit: 2 }), appended.slice(0, 2));
        assert.deepEqual(await store.listEvents({ after: ids[1], limit: 100 }), appended.slice(2));
        assert.deepEqual(await store.listEvents({ after: ids[4], limit: 100 }), []);
        assert.deepEqual(await store.listEvents({ limit: 0 }), []);
        assert.deepEqual(await store.listEvents({ limit: 2, newest: true }), appended.slice(-2), 'the last two, oldest first');
        assert.deepEqual(await store.listEvents({ after: ids[0], limit: 100, newest: true }), appended.slice(1));
        await assertRejectsWith(store.listEvents({ limit: -1 }), InputError, 'invalid_input', { field: 'limit' });

        // A follower that saw everything picks up exactly the new event.
        const next = await store.appendEvent({ kind: 'node.lost', severity: 'warning', subject: 'node:n1', message: 'node n1 lost', userId: null, now: NOW + 9 });
        assert.deepEqual(await store.listEvents({ after: ids[4], limit: 100 }), [next]);
        assert.deepEqual(next.data, {}, 'data defaults to an empty object');
      }));

    it("filters events by user and by kind", () =>
      withStore(dialect, async (store) => {
        const append = (kind: string, userId: string | null) => store.appendEvent({ kind, severity: 'info', subject: 's', message: 'm', userId, now: NOW });
        const alice1 = await append('app.created', 'alice');
        await append('node.lost', null);
        const bob1 = await append('app.created', 'bob');
        const alice2 = await append('app.deleted', 'alice');

        assert.deepEqual(await store.listEvents({ userId: 'alice', limit: 10 }), [alice1, alice2]);
        assert.deepEqual(await store.listEvents({ kind: 'app.created', limit: 10 }), [alice1, bob1]);
        assert.deepEqual(await store.listEvents({ kind: 'app.created', userId: 'alice', limit: 10 }), [alice1]);
        assert.deepEqual(await store.listEvents({ userId: 'alice', after: alice1.id, limit: 10 }), [alice2]);
        // A kind selects the kinds below it too, on a dot boundary only.
        const appliance = await append('appliance.added', null);
        assert.deepEqual(await store.listEvents({ kind: 'app', limit: 10 }), [alice1, bob1, alice2]);
        assert.deepEqual(await store.listEvents({ kind: 'appliance', limit: 10 }), [appliance]);
        assert.deepEqual(await store.listEvents({ kind: 'app.created.x', limit: 10 }), []);
      }));
  });
}

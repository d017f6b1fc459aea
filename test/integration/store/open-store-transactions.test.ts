import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ConfigError, GeartideError } from '../../../src/core/errors.ts';
import { KyselyStore } from '../../../src/store/kysely-store.ts';
import { InCodeMigrationProvider } from '../../../src/store/migrations/in-code-migration-provider.ts';
import { createPostgresKysely } from '../../../src/store/postgres-connection.ts';
import { SchemaMigrator } from '../../../src/store/schema-migrator.ts';
import { createSqliteKysely } from '../../../src/store/sqlite-connection.ts';
import { openStore } from '../../../src/store/open-store.ts';
import type { Store } from '../../../src/store/store.ts';
import { STORE_DIALECTS, createTestDatabase, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, assertRejectsWith, placeGear, seedPlatform } from './store-fixtures.ts';

/** The newest migration's name: every store opened by openStore must be at it. */
const LATEST = Object.keys(await new InCodeMigrationProvider('sqlite').getMigrations()).sort().at(-1);

describe('openStore: DATASTORE_URL', () => {
  const bad: { name: string; url: string; message: RegExp }[] = [
    { name: 'empty', url: '', message: /DATASTORE_URL is empty/ },
    { name: 'unknown scheme', url: 'mysql://root@localhost/geartide', message: /unsupported scheme 'mysql:'/ },
    { name: 'no scheme', url: '/var/lib/geartide.db', message: /no scheme/ },
    { name: 'sqlite without a path', url: 'sqlite:', message: /names no file/ },
    { name: 'sqlite with a relative path', url: 'sqlite:data/geartide.db', message: /relative path 'data\/geartide.db'/ },
    { name: 'sqlite with a host', url: 'sqlite://host/geartide.db', message: /has a host part/ },
    { name: 'postgres without a database', url: 'postgres://geartide:secret@db.example:5432', message: /names no database/ },
    { name: 'postgres without a host', url: 'postgres:///geartide', message: /names no host/ },
  ];
  for (const { name, url, message } of bad) {
    it(`refuses ${name}`, async () => {
      const error = await assertRejectsWith(openStore(url), ConfigError, 'invalid_config', { field: 'DATASTORE_URL' });
      assert.match(error.message, message);
    });
  }

  it('never repeats the password of a bad postgres URL', async () => {
    const error = await assertRejectsWith(openStore('postgres://geartide:hunter2@db.example:5432'), ConfigError, 'invalid_config');
    assert.doesNotMatch(error.message, /hunter2/);
  });

  it('opens an in-memory SQLite store, migrated', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      assert.equal(store.dialect, 'sqlite');
      assert.ok(store instanceof KyselyStore);
      assert.equal(await store.schemaVersion(), LATEST);
      assert.equal((await store.createUser({ login: 'a', role: 'admin', maxGears: 1, now: NOW })).login, 'a');
    } finally {
      await store.close();
    }
  });

  it('says which PostgreSQL server it cannot reach, as a transient error', async () => {
    // Port 1 is never a PostgreSQL server; the connection is refused at once.
    const error = await assertRejectsWith(openStore('postgres://geartide:hunter2@127.0.0.1:1/geartide'), GeartideError, 'datastore_unavailable', { field: 'DATASTORE_URL' });
    assert.equal(error.category, 'transient');
    assert.match(error.message, /127\.0\.0\.1:1/);
    assert.doesNotMatch(error.message, /hunter2/);
  });
});

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: migrations and transactions`, { skip: storeSkipReason(dialect) }, () => {
    it('migrates once: opening the same database again keeps schema version and data', async () => {
      const database = await createTestDatabase(dialect);
      try {
        const first = await openStore(database.url);
        assert.equal(first.dialect, dialect);
        assert.ok(first instanceof KyselyStore);
        assert.equal(await first.schemaVersion(), LATEST);
        const user = await first.createUser({ login: 'alice', role: 'admin', maxGears: 5, now: NOW });
        await first.close();

        const second = await openStore(database.url);
        try {
          assert.ok(second instanceof KyselyStore);
          assert.equal(await second.schemaVersion(), LATEST);
          assert.deepEqual(await second.getUserByLogin('alice'), user);
        } finally {
          await second.close();
        }
      } finally {
        await database.remove();
      }
    });

    it('back-fills the usage counters of migration 0002 from the rows of a 0001 database', async () => {
      const database = await createTestDatabase(dialect);
      try {
        const db = dialect === 'sqlite' ? createSqliteKysely(database.url.slice('sqlite:'.length)) : createPostgresKysely(database.url);
        try {
          await new SchemaMigrator(db, dialect).migrateTo('0001-initial');
          // Rows as a 0001 broker would have left them: a 4-UID pool with UIDs 1000 and 1002
          // held by two gears of alice's app, and bob with no gears. (`as never`: schema.ts
          // describes the newest tables, whose counter columns a 0001 database lacks.)
          await db.insertInto('users').values([
            { id: 'u-alice', login: 'alice', role: 'user', max_gears: 9, created_at: NOW },
            { id: 'u-bob', login: 'bob', role: 'user', max_gears: 9, created_at: NOW },
          ] as never).execute();
          await db.insertInto('domains').values({ id: 'd-1', name: 'demo', owner_id: 'u-alice', created_at: NOW }).execute();
          await db.insertInto('apps').values({ id: 'a-1', domain_id: 'd-1', name: 'web', cartridge: 'nodejs', gear_profile: 'small', scale_min: 1, scale_max: 2, desired_state: 'started', restart_generation: 0, created_at: NOW }).execute();
          await db.insertInto('districts').values({ id: 'di-1', name: 'small-1', gear_profile: 'small', first_uid: 1000, max_capacity: 4, created_at: NOW } as never).execute();
          await db.insertInto('district_uids').values([{ district_id: 'di-1', uid: 1001 }, { district_id: 'di-1', uid: 1003 }]).execute();
          await db.insertInto('nodes').values({ id: 'n-1', name: 'node-1', gear_profile: 'small', district_id: 'di-1', state: 'active', state_before_lost: null, max_active_gears: 5, gears_started: 0, gears_idle: 0, gears_stopped: 0, gears_unknown: 0, active_usage_pct: 0, endpoint: null, scale_event_id: null, credential_hash: 'c', last_heartbeat_at: NOW, created_at: NOW } as never).execute();
          for (const uid of [1000, 1002]) {
            await db.insertInto('gears').values({ id: `g-${uid}`, app_id: 'a-1', node_id: 'n-1', district_id: 'di-1', uid, desired_state: 'started', observed_state: 'new', endpoint: null, created_at: NOW, updated_at: NOW }).execute();
          }
        } finally {
          await db.destroy();
        }

        const store = await openStore(database.url);
        try {
          assert.ok(store instanceof KyselyStore);
          assert.equal(await store.schemaVersion(), LATEST);
          assert.equal((await store.getDistrictByName('small-1'))?.availableUids, 2);
          assert.equal(await store.countUserGears('u-alice'), 2);
          assert.equal(await store.countUserGears('u-bob'), 0);
          assert.equal((await store.countActiveGearsByNode(['n-1'])).get('n-1'), 2, "nodes.active_gears back-filled from the node's gears");
          // And the counters carry on from there.
          assert.equal(await store.allocateUid('di-1'), 1001);
          assert.equal((await store.listDistricts())[0]?.availableUids, 1);
        } finally {
          await store.close();
        }
      } finally {
        await database.remove();
      }
    });

    it('opens the same database twice at once without running migrations twice', async () => {
      const database = await createTestDatabase(dialect);
      try {
        const stores = await Promise.all([openStore(database.url), openStore(database.url)]);
        try {
          await stores[0].createUser({ login: 'alice', role: 'admin', maxGears: 5, now: NOW });
          assert.equal((await stores[1].getUserByLogin('alice'))?.login, 'alice', 'both see one schema');
        } finally {
          await Promise.all(stores.map((store) => store.close()));
        }
      } finally {
        await database.remove();
      }
    });

    it('commits the work of a transaction and returns its result', () =>
      withStore(dialect, async (store, url) => {
        const result = await store.transaction(async (tx) => {
          const user = await tx.createUser({ login: 'alice', role: 'user', maxGears: 5, now: NOW });
          await tx.createDomain({ name: 'demo', ownerId: user.id, now: NOW });
          return user.id;
        });
        // Read through a second connection: committed, not merely visible inside ours.
        const other = await openStore(url);
        try {
          assert.equal((await other.getDomainByName('demo'))?.ownerId, result);
        } finally {
          await other.close();
        }
      }));

    it('rolls back everything a transaction wrote when its work throws', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store, { uidCapacity: 5 });
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.createUser({ login: 'bob', role: 'user', maxGears: 5, now: NOW });
            const uid = await tx.allocateUid(platform.district.id);
            await tx.createGear({ appId: platform.app.id, nodeId: platform.node.id, districtId: platform.district.id, uid, desiredState: 'started', now: NOW });
            await tx.appendEvent({ kind: 'app.created', severity: 'info', subject: 's', message: 'm', userId: null, now: NOW });
            throw new Error('placement changed its mind');
          }),
          /placement changed its mind/,
        );
        assert.equal(await store.getUserByLogin('bob'), undefined);
        assert.deepEqual(await store.listGears(), []);
        assert.equal((await store.getDistrict(platform.district.id))?.availableUids, 5);
        assert.deepEqual(await store.listEvents({ limit: 10 }), []);
      }));

    it('reuses the enclosing transaction: nested work commits or rolls back with it', () =>
      withStore(dialect, async (store) => {
        const inner = await store.transaction((tx) => tx.transaction(async (nested) => (await nested.createUser({ login: 'kept', role: 'user', maxGears: 1, now: NOW })).id));
        assert.equal((await store.getUser(inner))?.login, 'kept');

        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.transaction((nested) => nested.createUser({ login: 'dropped', role: 'user', maxGears: 1, now: NOW }));
            throw new Error('outer fails after the nested work finished');
          }),
          /outer fails/,
        );
        assert.equal(await store.getUserByLogin('dropped'), undefined);
      }));

    it("runs a multi-statement method inside the caller's transaction, not its own", () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store, { uidCapacity: 1 });
        const gear = await placeGear(store, platform);
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.deleteGear(gear.id);
            throw new Error('abort');
          }),
          /abort/,
        );
        assert.ok(await store.getGear(gear.id), 'the gear delete rolled back with the caller');
        assert.equal((await store.getDistrict(platform.district.id))?.availableUids, 0, 'and so did the UID release');
      }));

    it('takes the placement lock only inside a transaction', () =>
      withStore(dialect, async (store) => {
        await assertRejectsWith(store.lockPlacement('small'), GeartideError, 'lock_outside_transaction');
        assert.equal(await store.transaction(async (tx) => (await tx.lockPlacement('small'), 'locked')), 'locked');
      }));

    it('serialises transactions that lock the same profile', () =>
      withStore(dialect, async (store) => {
        // Two concurrent requests of one broker: on PostgreSQL two pooled connections, held
        // apart by the advisory lock; on SQLite the one connection, held by the transaction.
        const timeline: string[] = [];
        let firstHasLock!: () => void;
        const locked = new Promise<void>((resolve) => (firstHasLock = resolve));
        const first = store.transaction(async (tx) => {
          await tx.lockPlacement('small');
          await tx.createUser({ login: 'first', role: 'user', maxGears: 1, now: NOW });
          timeline.push('first locked');
          firstHasLock();
          await sleep(150);
          timeline.push('first done');
        });
        await locked;
        const second = placeUnderLock(store, timeline);
        await Promise.all([first, second]);
        assert.deepEqual(timeline, ['first locked', 'first done', 'second locked']);
      }));

    it('never hands out the same UID twice to concurrent allocations', () =>
      withStore(dialect, async (store, url) => {
        const district = await store.createDistrict({ name: 'busy', gearProfile: 'small', firstUid: 1000, maxCapacity: 40, now: NOW });
        // PostgreSQL: two brokers (two pools) on one database. SQLite: the requests of one broker
        // on its one connection — a second connection in the same process would block the event
        // loop inside better-sqlite3 waiting for a lock the first cannot release meanwhile.
        const second = dialect === 'postgres' ? await openStore(url) : store;
        try {
          const stores: Store[] = [store, second];
          const uids = await Promise.all(
            Array.from({ length: 40 }, (_, i) => stores[i % 2]!.transaction(async (tx) => {
              const uid = await tx.allocateUid(district.id);
              await sleep(i % 3); // hold the transaction open across a tick, as placement does
              return uid;
            })),
          );
          assert.deepEqual(
            [...uids].sort((a, b) => a - b),
            Array.from({ length: 40 }, (_, i) => 1000 + i),
          );
          await assertRejectsWith(store.allocateUid(district.id), GeartideError, 'district_uids_exhausted');
          assert.equal((await second.getDistrict(district.id))?.availableUids, 0);
        } finally {
          if (second !== store) await second.close();
        }
      }));
  });
}

async function placeUnderLock(store: Store, timeline: string[]): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.lockPlacement('small');
    timeline.push('second locked');
    // The first transaction's write is committed by now, so this one sees it.
    assert.ok(await tx.getUserByLogin('first'));
  });
}

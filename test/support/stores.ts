/**
 * Fresh, empty, migrated stores for tests, on each backend, so the same suite runs over both:
 *
 *   for (const dialect of STORE_DIALECTS) {
 *     describe(dialect, { skip: storeSkipReason(dialect) }, () => {
 *       it('…', () => withStore(dialect, async (store) => { … }));
 *     });
 *   }
 *
 * SQLite: a new file in a new temporary directory per store. PostgreSQL: one private cluster per
 * test process (started on first use, stopped when the process exits) and a new database per store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../../src/store/open-store.ts';
import type { Store, StoreDialect } from '../../src/store/store.ts';
import { postgresSkipReason, startTestPostgres } from './postgres.ts';
import type { TestPostgres } from './postgres.ts';

export const STORE_DIALECTS = ['sqlite', 'postgres'] as const satisfies readonly StoreDialect[];

export interface TestStore {
  readonly store: Store;
  /** The DATASTORE_URL of this store's database: open it again to see what was committed. */
  readonly url: string;
  /** Closes the store and removes its SQLite directory (PostgreSQL databases go with the cluster). */
  close(): Promise<void>;
}

/**
 * Why `dialect` cannot be tested on this machine (a sentence for `describe`'s skip), or undefined.
 * Throws, rather than skipping, when PostgreSQL is required (`run-tests.js --postgres`).
 */
export function storeSkipReason(dialect: StoreDialect): string | undefined {
  return dialect === 'postgres' ? postgresSkipReason() : undefined;
}

/** The URL of a new, empty database (no schema yet), and how to clean it up. */
export async function createTestDatabase(dialect: StoreDialect): Promise<{ url: string; remove(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'geartide-store-'));
    return { url: `sqlite:${join(dir, 'geartide.db')}`, remove: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const cluster = await sharedCluster();
  const name = `geartide_${process.pid}_${++databaseCount}`;
  await withAdminClient(cluster, (client) => client.query(`create database ${name}`));
  const url = new URL(cluster.url);
  url.pathname = `/${name}`;
  // Dropping is pointless: the whole cluster is removed when the process exits.
  return { url: url.toString(), remove: async () => {} };
}

/** A new store on a new database, migrated and empty. */
export async function createTestStore(dialect: StoreDialect): Promise<TestStore> {
  const database = await createTestDatabase(dialect);
  const store = await openStore(database.url);
  let closed = false;
  return {
    store,
    url: database.url,
    async close() {
      if (closed) return;
      closed = true;
      await store.close();
      await database.remove();
    },
  };
}

/** Runs `fn` with a fresh store and closes it afterwards, whatever `fn` does. */
export async function withStore<T>(dialect: StoreDialect, fn: (store: Store, url: string) => Promise<T>): Promise<T> {
  const testStore = await createTestStore(dialect);
  try {
    return await fn(testStore.store, testStore.url);
  } finally {
    await testStore.close();
  }
}

let databaseCount = 0;
let cluster: Promise<TestPostgres> | undefined;

function sharedCluster(): Promise<TestPostgres> {
  cluster ??= startTestPostgres().then((started) => {
    if (started === undefined) throw new Error(storeSkipReason('postgres') ?? 'PostgreSQL test cluster unavailable');
    // The test runner gives no "after all files" hook inside a file's process; 'exit' is the last
    // moment we get, and only synchronous work runs there.
    process.once('exit', () => started.stopSync());
    return started;
  });
  return cluster;
}

async function withAdminClient<T>(target: TestPostgres, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

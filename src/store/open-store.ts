import { GeartideError } from '../core/errors.ts';
import type { Kysely } from 'kysely';
import { parseDatastoreUrl } from './datastore-url.ts';
import { KyselyStore } from './kysely-store.ts';
import { createPostgresKysely } from './postgres-connection.ts';
import { SchemaMigrator } from './schema-migrator.ts';
import type { Database } from './schema.ts';
import { createSqliteKysely } from './sqlite-connection.ts';
import type { Store } from './store.ts';

/**
 * Opens the store DATASTORE_URL names and brings its schema to the newest version:
 *   sqlite:/abs/path/file.db | sqlite::memory: | postgres://user:pass@host:port/db
 * A malformed URL is a ConfigError on DATASTORE_URL; a database that cannot be reached or
 * opened is a transient error naming it (the URL is fine, the server may come back).
 */
export async function openStore(url: string): Promise<Store> {
  const target = parseDatastoreUrl(url);
  let db: Kysely<Database>;
  try {
    db = target.dialect === 'sqlite' ? createSqliteKysely(target.path) : createPostgresKysely(target.connectionString);
  } catch (error) {
    throw unreachable(target.dialect === 'sqlite' ? target.path : target.display, error);
  }
  try {
    await new SchemaMigrator(db, target.dialect).migrateToLatest();
  } catch (error) {
    await db.destroy().catch(() => {});
    if (error instanceof GeartideError) throw error;
    throw unreachable(target.dialect === 'sqlite' ? target.path : target.display, error);
  }
  return new KyselyStore(db, target.dialect);
}

function unreachable(where: string, error: unknown): GeartideError {
  const reason = error instanceof Error ? error.message : String(error);
  return new GeartideError('datastore_unavailable', 'transient', `cannot open the datastore ${where}: ${reason}`, { field: 'DATASTORE_URL' }, { cause: error });
}

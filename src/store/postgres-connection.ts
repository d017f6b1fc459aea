import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

/**
 * pg returns int8 (bigint, and every count(*)) as a string, because it can exceed 2^53. Ours are
 * epoch milliseconds, counts and event ids, all far below that, so read them as numbers. The
 * parser is set on this pool only, not pg's global registry, so other users of pg are unaffected.
 */
function getTypeParser(oid: number, format?: 'text' | 'binary'): any {
  if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
  return pg.types.getTypeParser(oid, format ?? 'text');
}

export function createPostgresKysely(connectionString: string): Kysely<Database> {
  const pool = new pg.Pool({ connectionString, types: { getTypeParser } });
  // An idle client whose server went away emits 'error' on the pool; without a listener that
  // would crash the broker. The next query reports the problem where it can be handled.
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

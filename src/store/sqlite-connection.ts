import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.ts';

/** How long a write waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens the embedded store. Kysely's SqliteDialect runs every query (and a whole transaction)
 * on this one connection in turn, which is what SQLite wants: one writer at a time.
 */
export function createSqliteKysely(path: string): Kysely<Database> {
  // `geartide up` points at a file under a state directory that may not exist yet.
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS });
  // WAL lets readers (the CLI, a second process) read while the broker writes; NORMAL
  // synchronous is durable across a process crash and only risks the last commits on power loss,
  // which is the usual trade for WAL and what makes hundreds of small commits a second cheap.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  // SQLite does not enforce foreign keys unless asked, per connection.
  database.pragma('foreign_keys = ON');
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Database } from './schema.ts';

/** How long a write waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/** Prepared statements kept per connection (distinct SQL texts; `IN (…)` lists of each length count apart). */
export const STATEMENT_CACHE_SIZE = 500;

/**
 * The connection as Kysely sees it, keeping prepared statements by SQL text. Kysely prepares
 * every query it runs; the store runs the same few dozen texts over and over, and preparing was
 * a sixth of the broker's CPU under app creates. Least recently used texts are dropped past
 * STATEMENT_CACHE_SIZE. A statement is run to completion (`all`, `run`) before the next query
 * on this one connection, so reusing it is safe; SQLite re-prepares it by itself if a migration
 * changes the schema.
 */
export class CachedStatements implements SqliteDatabase {
  readonly #database: BetterSqlite3.Database;
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #size: number;

  constructor(database: BetterSqlite3.Database, size: number = STATEMENT_CACHE_SIZE) {
    this.#database = database;
    this.#size = size;
  }

  prepare(sql: string): SqliteStatement {
    const cached = this.#statements.get(sql);
    if (cached !== undefined) {
      // Most recently used last: a Map iterates in insertion order.
      this.#statements.delete(sql);
      this.#statements.set(sql, cached);
      return cached;
    }
    const statement = this.#database.prepare(sql);
    this.#statements.set(sql, statement);
    if (this.#statements.size > this.#size) this.#statements.delete(this.#statements.keys().next().value!);
    return statement;
  }

  /** How many statements are kept (for tests). */
  get size(): number {
    return this.#statements.size;
  }

  close(): void {
    this.#statements.clear();
    this.#database.close();
  }
}

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
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: new CachedStatements(database) }) });
}

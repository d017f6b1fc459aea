import { setTimeout as sleep } from 'node:timers/promises';
import { Migrator } from 'kysely';
import type { Kysely } from 'kysely';
import { GeartideError } from '../core/errors.ts';
import { InCodeMigrationProvider } from './migrations/in-code-migration-provider.ts';
import type { StoreDialect } from './store.ts';

/** Our own bookkeeping table names, so they cannot clash with another tool's in a shared database. */
const MIGRATION_TABLE = 'geartide_migration';
const MIGRATION_LOCK_TABLE = 'geartide_migration_lock';

/**
 * Brings a database to the newest schema. Kysely's Migrator takes a lock (an advisory lock on
 * PostgreSQL), so several brokers starting at once run each migration exactly once.
 */
export class SchemaMigrator {
  readonly #migrator: Migrator;
  readonly #dialect: StoreDialect;

  constructor(db: Kysely<any>, dialect: StoreDialect) {
    this.#dialect = dialect;
    this.#migrator = new Migrator({
      db,
      provider: new InCodeMigrationProvider(dialect),
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
    });
  }

  /** Runs the pending migrations; a no-op when there are none. Returns the names it ran. */
  async migrateToLatest(): Promise<string[]> {
    // Kysely's migration lock is a no-op on SQLite (it assumes one connection), so two
    // processes opening a new file at once can both try to create the tables; the loser's
    // transaction rolls back whole. Trying again then finds the winner's migrations applied
    // and has nothing to do. A migration that is truly broken fails every attempt.
    const attempts = this.#dialect === 'sqlite' ? 5 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#migrateOnce();
      } catch (error) {
        if (attempt >= attempts) throw error;
        await sleep(25 * attempt);
      }
    }
  }

  async #migrateOnce(): Promise<string[]> {
    const { error, results } = await this.#migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((result) => result.status === 'Error')?.migrationName;
      // No failed migration: the database could not be reached or locked; let the caller say so.
      if (failed === undefined) throw error;
      throw new GeartideError('migration_failed', 'internal', `schema migration '${failed}' failed: ${messageOf(error)}`, { migration: failed }, { cause: error });
    }
    return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
  }

  /** Migrates up or down to exactly `name` (tests of a migration start from the one before it). */
  async migrateTo(name: string): Promise<void> {
    const { error } = await this.#migrator.migrateTo(name);
    if (error !== undefined) throw error;
  }

  /** Name of the newest migration applied, or null on an empty database. */
  async currentVersion(): Promise<string | null> {
    const migrations = await this.#migrator.getMigrations();
    const applied = migrations.filter((migration) => migration.executedAt !== undefined);
    return applied.at(-1)?.name ?? null;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

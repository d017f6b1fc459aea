import type { Migration, MigrationProvider } from 'kysely';
import type { StoreDialect } from '../store.ts';
import { initialMigration } from './0001-initial.ts';
import { usageCountersMigration } from './0002-usage-counters.ts';
import { appSourcesMigration } from './0003-app-sources.ts';
import { gearMovesMigration } from './0004-gear-moves.ts';
import { scalePoolsMigration } from './0005-scale-pools.ts';
import { nodeActiveGearsMigration } from './0006-node-active-gears.ts';

/**
 * The migrations, listed in code rather than read from a folder: they ship inside the bundle
 * and cannot go missing at run time. Names sort in the order they must run; never rename or
 * edit one that has been released — add the next number instead.
 */
export class InCodeMigrationProvider implements MigrationProvider {
  readonly #dialect: StoreDialect;

  constructor(dialect: StoreDialect) {
    this.#dialect = dialect;
  }

  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001-initial': initialMigration(this.#dialect),
      '0002-usage-counters': usageCountersMigration(),
      '0003-app-sources': appSourcesMigration(this.#dialect),
      '0004-gear-moves': gearMovesMigration(),
      '0005-scale-pools': scalePoolsMigration(),
      '0006-node-active-gears': nodeActiveGearsMigration(),
    };
  }
}

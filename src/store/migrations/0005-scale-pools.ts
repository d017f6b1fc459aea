import type { Kysely, Migration } from 'kysely';

/**
 * The autoscaler's memory (issue 5).
 *
 * scale_pools: one row per pool (`small`, `small@east`): what the planner remembers between
 * passes (`memory`, JSON written by the leader only), whether an operator paused it, and the
 * newest refused placement (written by any broker's API, so in columns of its own: the leader's
 * write of `memory` never overwrites them).
 *
 * leases: who runs the controllers that must run once (the autoscaler): a row per lease, taken
 * by a conditional update when free or expired, renewed by its holder. The same on both
 * dialects, and no connection has to stay open to hold it.
 */
export function scalePoolsMigration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('scale_pools')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('memory', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('paused_by', 'text')
        .addColumn('paused_at', 'bigint')
        .addColumn('unplaced_gears', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('unplaced_district', 'text')
        .addColumn('unplaced_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },

    async down(db: Kysely<any>) {
      await db.schema.dropTable('leases').execute();
      await db.schema.dropTable('scale_pools').execute();
    },
  };
}

import type { Kysely, Migration } from 'kysely';

/**
 * Gear moves in flight, and the routers the broker has served (docs/moves.md).
 *
 * gear_moves: one row per gear being moved, from `planned` until `source-released` (or a
 * rollback) deletes it. It reserves room on the target (counted by countActiveGearsByNode) and
 * holds what the target agent needs (the move token) and what it reported.
 *
 * routers: when each router last received a route table, so a move drops its source only once
 * every live router has the table without it.
 */
export function gearMovesMigration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('gear_moves')
        .addColumn('gear_id', 'text', (c) => c.primaryKey().references('gears.id').onDelete('cascade'))
        .addColumn('app_id', 'text', (c) => c.notNull())
        .addColumn('operation_id', 'text', (c) => c.notNull().references('operations.id'))
        .addColumn('source_node_id', 'text', (c) => c.notNull().references('nodes.id'))
        .addColumn('target_node_id', 'text', (c) => c.notNull().references('nodes.id'))
        .addColumn('target_district_id', 'text', (c) => c.notNull().references('districts.id'))
        .addColumn('target_uid', 'integer', (c) => c.notNull())
        // Short-lived and only ever shown to the target node's own credential; deleted with the row.
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('route_phase', 'text', (c) => c.notNull().defaultTo('source'))
        .addColumn('target_state', 'text', (c) => c.notNull().defaultTo('pending'))
        .addColumn('target_endpoint', 'text')
        .addColumn('pause_ms', 'integer')
        .addColumn('error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gear_moves_target_node_id_idx').on('gear_moves').column('target_node_id').execute();
      await db.schema.createIndex('gear_moves_source_node_id_idx').on('gear_moves').column('source_node_id').execute();
      await db.schema.createIndex('gear_moves_operation_id_idx').on('gear_moves').column('operation_id').execute();

      await db.schema
        .createTable('routers')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('last_served_at', 'bigint', (c) => c.notNull())
        .execute();
    },

    async down(db: Kysely<any>) {
      await db.schema.dropTable('routers').execute();
      await db.schema.dropTable('gear_moves').execute();
    },
  };
}

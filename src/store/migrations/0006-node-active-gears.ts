import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * nodes.active_gears: what placement reads of every node of a profile on every app create —
 * the gears placed there whose desired state is started, plus those moving in (a move holds its
 * room on the target from the start). Counted from the gears, it cost a scan of every active
 * gear of the profile per create (11 % of the broker's CPU with 6,000 gears, and growing with
 * them); KyselyStore keeps the column in the same transaction as every change to those rows.
 *
 * Existing databases are back-filled from the rows themselves.
 */
export function nodeActiveGearsMigration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('nodes').addColumn('active_gears', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await sql`
        update nodes set active_gears =
          (select count(*) from gears where gears.node_id = nodes.id and gears.desired_state = 'started')
          + (select count(*) from gear_moves join gears on gears.id = gear_moves.gear_id
             where gear_moves.target_node_id = nodes.id and gears.desired_state = 'started')`.execute(db);
    },

    async down(db: Kysely<any>) {
      await db.schema.alterTable('nodes').dropColumn('active_gears').execute();
    },
  };
}

import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * Two counters the hot path of app creation reads on every request, kept up to date by
 * KyselyStore in the same transaction as the rows they count:
 *
 * - districts.available_uids = the district's rows in district_uids. Counting 6000-20000 free
 *   UIDs per district on every placement cost about 1 ms on SQLite (measured), half the budget
 *   of a 500-apps-per-second broker; reading a column costs nothing.
 * - users.gear_count = the gears of all apps in the user's domains (its max_gears check).
 *   Counting them through apps and domains grows with the user's gears.
 *
 * Existing databases are back-filled from the rows themselves, so the counters start right.
 */
export function usageCountersMigration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('districts').addColumn('available_uids', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await sql`update districts set available_uids = (select count(*) from district_uids where district_uids.district_id = districts.id)`.execute(db);

      await db.schema.alterTable('users').addColumn('gear_count', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await sql`
        update users set gear_count = (
          select count(*) from gears
          join apps on apps.id = gears.app_id
          join domains on domains.id = apps.domain_id
          where domains.owner_id = users.id)`.execute(db);
    },

    async down(db: Kysely<any>) {
      await db.schema.alterTable('users').dropColumn('gear_count').execute();
      await db.schema.alterTable('districts').dropColumn('available_uids').execute();
    },
  };
}

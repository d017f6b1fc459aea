import type { Kysely, Migration } from 'kysely';
import { dialectFeatures } from '../dialect-features.ts';
import type { StoreDialect } from '../store.ts';

/**
 * Uploaded app sources (`app create --from DIR`, `app deploy`). The archive lives in the store
 * itself, not on the broker's disk: several brokers share one database, and a node agent may ask
 * any of them for a gear's source.
 *
 * apps.source_version counts deploys (0: none, the cartridge's built-in app). Node agents compare
 * it with what they extracted, so re-deploying even the very same source id makes them re-fetch
 * and restart.
 */
export function appSourcesMigration(dialect: StoreDialect): Migration {
  const features = dialectFeatures(dialect);
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('app_sources')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // A user's uploads go with the user (it cannot be deleted while it owns apps anyway).
        .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('archive', features.binaryType, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('app_sources_owner_id_idx').on('app_sources').column('owner_id').execute();

      // No ON DELETE: a source an app runs must not vanish from under it.
      await db.schema.alterTable('apps').addColumn('source_id', 'text', (c) => c.references('app_sources.id')).execute();
      await db.schema.alterTable('apps').addColumn('source_version', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },

    async down(db: Kysely<any>) {
      await db.schema.alterTable('apps').dropColumn('source_version').execute();
      await db.schema.alterTable('apps').dropColumn('source_id').execute();
      await db.schema.dropTable('app_sources').execute();
    },
  };
}

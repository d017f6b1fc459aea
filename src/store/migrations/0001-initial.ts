import type { Kysely, Migration } from 'kysely';
import { dialectFeatures } from '../dialect-features.ts';
import type { StoreDialect } from '../store.ts';

/**
 * The first schema. Migrations take `Kysely<any>` on purpose: they must keep working when
 * `Database` in schema.ts later describes a newer schema.
 *
 * Times are `bigint` on both dialects: SQLite gives the name INTEGER affinity, PostgreSQL needs
 * 64 bits for epoch milliseconds.
 */
export function initialMigration(dialect: StoreDialect): Migration {
  const features = dialectFeatures(dialect);
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('login', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('max_gears', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('users_login_key', ['login'])
        .execute();

      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // Deleting a user takes its tokens with it.
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addUniqueConstraint('api_tokens_token_hash_key', ['token_hash'])
        .execute();
      await db.schema.createIndex('api_tokens_user_id_idx').on('api_tokens').column('user_id').execute();

      await db.schema
        .createTable('domains')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('domains_name_key', ['name'])
        .execute();
      await db.schema.createIndex('domains_owner_id_idx').on('domains').column('owner_id').execute();

      await db.schema
        .createTable('apps')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('domain_id', 'text', (c) => c.notNull().references('domains.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('cartridge', 'text', (c) => c.notNull())
        .addColumn('gear_profile', 'text', (c) => c.notNull())
        .addColumn('scale_min', 'integer', (c) => c.notNull())
        .addColumn('scale_max', 'integer', (c) => c.notNull())
        .addColumn('desired_state', 'text', (c) => c.notNull())
        .addColumn('restart_generation', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        // Also the index for "apps of a domain".
        .addUniqueConstraint('apps_domain_id_name_key', ['domain_id', 'name'])
        .execute();

      await db.schema
        .createTable('districts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('gear_profile', 'text', (c) => c.notNull())
        .addColumn('first_uid', 'integer', (c) => c.notNull())
        .addColumn('max_capacity', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('districts_name_key', ['name'])
        .execute();

      // One row per free UID. The primary key orders a district's UIDs, so "lowest free" and
      // "how many free" are index scans.
      await db.schema
        .createTable('district_uids')
        .addColumn('district_id', 'text', (c) => c.notNull().references('districts.id').onDelete('cascade'))
        .addColumn('uid', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('district_uids_pkey', ['district_id', 'uid'])
        .execute();

      await db.schema
        .createTable('nodes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('gear_profile', 'text', (c) => c.notNull())
        .addColumn('district_id', 'text', (c) => c.references('districts.id'))
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_before_lost', 'text')
        .addColumn('max_active_gears', 'integer', (c) => c.notNull())
        .addColumn('gears_started', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('gears_idle', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('gears_stopped', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('gears_unknown', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('active_usage_pct', 'double precision', (c) => c.notNull().defaultTo(0))
        .addColumn('endpoint', 'text')
        .addColumn('scale_event_id', 'text')
        .addColumn('credential_hash', 'text', (c) => c.notNull())
        .addColumn('last_heartbeat_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('nodes_name_key', ['name'])
        .execute();
      await db.schema.createIndex('nodes_gear_profile_state_idx').on('nodes').columns(['gear_profile', 'state']).execute();
      await db.schema.createIndex('nodes_district_id_idx').on('nodes').column('district_id').execute();
      await db.schema.createIndex('nodes_credential_hash_idx').on('nodes').column('credential_hash').execute();

      await db.schema
        .createTable('gears')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id'))
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id'))
        .addColumn('district_id', 'text', (c) => c.notNull().references('districts.id'))
        .addColumn('uid', 'integer', (c) => c.notNull())
        .addColumn('desired_state', 'text', (c) => c.notNull())
        .addColumn('observed_state', 'text', (c) => c.notNull())
        .addColumn('endpoint', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        // A UID belongs to at most one gear of its district, whatever the free list says.
        .addUniqueConstraint('gears_district_id_uid_key', ['district_id', 'uid'])
        .execute();
      await db.schema.createIndex('gears_app_id_idx').on('gears').column('app_id').execute();
      // Covers both "gears of a node" and "active gears per node".
      await db.schema.createIndex('gears_node_id_desired_state_idx').on('gears').columns(['node_id', 'desired_state']).execute();

      await db.schema
        .createTable('operations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('operations_status_idx').on('operations').column('status').execute();

      await db.schema
        .createTable('events')
        .addColumn('id', features.autoIncrementType, (c) => (features.autoIncrementModifier ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        // No foreign key: events outlive the users they mention.
        .addColumn('user_id', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_user_id_id_idx').on('events').columns(['user_id', 'id']).execute();
      await db.schema.createIndex('events_kind_id_idx').on('events').columns(['kind', 'id']).execute();
    },

    async down(db: Kysely<any>) {
      // Children before parents, for the foreign keys.
      for (const table of ['events', 'operations', 'gears', 'nodes', 'district_uids', 'districts', 'apps', 'domains', 'api_tokens', 'users']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}

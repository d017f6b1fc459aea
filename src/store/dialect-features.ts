import { sql } from 'kysely';
import type { ColumnDataType, Kysely } from 'kysely';
import type { StoreDialect } from './store.ts';

/**
 * The few places where SQLite and PostgreSQL need different SQL, kept together so the rest of
 * the store is written once.
 */
export interface DialectFeatures {
  /** Column type of an auto-increment integer primary key (see `autoIncrementPrimaryKey`). */
  readonly autoIncrementType: ColumnDataType;
  /**
   * SQLite spells an auto-increment key `integer primary key autoincrement`; PostgreSQL has no
   * such modifier and uses the `bigserial` type instead.
   */
  readonly autoIncrementModifier: boolean;
  /**
   * Whether `SELECT … FOR UPDATE [SKIP LOCKED]` exists. SQLite has no row locks (one writer at
   * a time already), PostgreSQL needs them so concurrent transactions do not take the same row.
   */
  readonly rowLocks: boolean;
  /** Serialises placement for a profile until the enclosing transaction ends. */
  lockPlacement(db: Kysely<any>, gearProfile: string): Promise<void>;
}

const sqliteFeatures: DialectFeatures = {
  autoIncrementType: 'integer',
  autoIncrementModifier: true,
  rowLocks: false,
  // SQLite already runs one write transaction at a time, so there is nothing to serialise.
  async lockPlacement() {},
};

const postgresFeatures: DialectFeatures = {
  autoIncrementType: 'bigserial',
  autoIncrementModifier: false,
  rowLocks: true,
  async lockPlacement(db, gearProfile) {
    // A transaction-scoped advisory lock: released by COMMIT/ROLLBACK, so a broker that dies
    // mid-placement cannot leave it held. hashtext maps the profile name onto the lock's key space.
    await sql`select pg_advisory_xact_lock(hashtext(${gearProfile}))`.execute(db);
  },
};

export function dialectFeatures(dialect: StoreDialect): DialectFeatures {
  return dialect === 'postgres' ? postgresFeatures : sqliteFeatures;
}

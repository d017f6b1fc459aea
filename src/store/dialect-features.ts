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
  /** Column type of a byte string: SQLite's `blob`, PostgreSQL's `bytea`. */
  readonly binaryType: ColumnDataType;
  /** Serialises placement for a profile until the enclosing transaction ends. */
  lockPlacement(db: Kysely<any>, gearProfile: string): Promise<void>;
  /** Runs `work` in a transaction on one connection; commits, or rolls back when it throws. */
  runTransaction<DB, T>(db: Kysely<DB>, work: (trx: Kysely<DB>) => Promise<T>): Promise<T>;
}

const sqliteFeatures: DialectFeatures = {
  autoIncrementType: 'integer',
  autoIncrementModifier: true,
  rowLocks: false,
  binaryType: 'blob',
  // Transactions begin IMMEDIATE (below): a second writer waits at BEGIN, so placements are
  // already serialised, whichever profile they are for.
  async lockPlacement() {},
  async runTransaction(db, work) {
    // IMPORTANT: BEGIN IMMEDIATE, not Kysely's plain (deferred) BEGIN, because a deferred
    // transaction that reads and then writes cannot wait for another connection's write lock:
    // SQLite fails it at once with SQLITE_BUSY instead of honouring busy_timeout. Taking the
    // write lock at BEGIN makes a second connection (a second process) wait its turn. Our
    // transactions nearly all write, so nothing is lost for readers.
    return db.connection().execute(async (connection) => {
      await sql`begin immediate`.execute(connection);
      let result;
      try {
        result = await work(connection);
      } catch (error) {
        // SQLite may have rolled back already (e.g. after SQLITE_FULL); the work's error is the news.
        await sql`rollback`.execute(connection).catch(() => {});
        throw error;
      }
      await sql`commit`.execute(connection);
      return result;
    });
  },
};

const postgresFeatures: DialectFeatures = {
  autoIncrementType: 'bigserial',
  autoIncrementModifier: false,
  rowLocks: true,
  binaryType: 'bytea',
  async lockPlacement(db, gearProfile) {
    // A transaction-scoped advisory lock: released by COMMIT/ROLLBACK, so a broker that dies
    // mid-placement cannot leave it held. hashtext maps the profile name onto the lock's key space.
    await sql`select pg_advisory_xact_lock(hashtext(${gearProfile}))`.execute(db);
  },
  runTransaction(db, work) {
    return db.transaction().execute(work);
  },
};

export function dialectFeatures(dialect: StoreDialect): DialectFeatures {
  return dialect === 'postgres' ? postgresFeatures : sqliteFeatures;
}

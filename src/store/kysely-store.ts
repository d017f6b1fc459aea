import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import { ConflictError, ExhaustedError, GeartideError, InputError, NotFoundError } from '../core/errors.ts';
import { TARGET_VISIBLE_PHASES } from '../core/move-phases.ts';
import type { PlacementNode } from '../core/placement.ts';
import { EMPTY_POOL_MEMORY, type PoolMemory } from '../core/scale-plan.ts';
import type {
  ApiToken,
  App,
  AppSource,
  DesiredState,
  District,
  Domain,
  EventSeverity,
  Gear,
  GearCounts,
  GearMove,
  GearObservedState,
  Node,
  NodeState,
  Operation,
  OperationStatus,
  PlatformEvent,
  Role,
  User,
} from '../core/model.ts';
import { constraintViolation } from './constraint-violation.ts';
import { dialectFeatures } from './dialect-features.ts';
import type { DialectFeatures } from './dialect-features.ts';
import { SchemaMigrator } from './schema-migrator.ts';
import type { ApiTokensTable, AppSourcesTable, AppsTable, Database, DistrictsTable, DomainsTable, EventsTable, GearMovesTable, GearsTable, NodesTable, OperationsTable, UsersTable } from './schema.ts';
import type { NodeAssignment, RouteEntry, Store, StoreDialect } from './store.ts';

/** Node states from which a missed heartbeat makes a node `lost` (model.ts's state diagram). */
const LOSABLE_STATES: NodeState[] = ['active', 'deactivated', 'draining'];

/**
 * The Store over Kysely, for both dialects. Every method is one or two statements (a few
 * administrative ones three), so the hot path of app creation stays cheap on SQLite.
 *
 * A KyselyStore is either the root (owns the connection or pool) or bound to one transaction
 * (`transaction()` hands such a store to its callback). Methods that must change several rows
 * atomically run in their own transaction, or in the caller's when there is one.
 */
export class KyselyStore implements Store {
  readonly dialect: StoreDialect;
  readonly #db: Kysely<Database>;
  readonly #features: DialectFeatures;
  readonly #inTransaction: boolean;

  constructor(db: Kysely<Database>, dialect: StoreDialect, inTransaction = false) {
    this.#db = db;
    this.dialect = dialect;
    this.#features = dialectFeatures(dialect);
    this.#inTransaction = inTransaction;
  }

  async transaction<T>(work: (tx: Store) => Promise<T>): Promise<T> {
    // Already in one: reuse it. A nested BEGIN is an error on PostgreSQL and SQLite alike, and
    // the caller wants its work to commit or roll back with the enclosing transaction anyway.
    if (this.#inTransaction) return work(this);
    return this.#features.runTransaction(this.#db, (trx) => work(new KyselyStore(trx, this.dialect, true)));
  }

  async lockPlacement(gearProfile: string): Promise<void> {
    // Outside a transaction PostgreSQL would release the lock at the end of this very statement,
    // silently protecting nothing; refuse on both dialects so the mistake shows up on SQLite too.
    if (!this.#inTransaction) {
      throw new GeartideError('lock_outside_transaction', 'internal', 'lockPlacement() must be called inside store.transaction()');
    }
    await this.#features.lockPlacement(this.#db, gearProfile);
  }

  async close(): Promise<void> {
    // A transaction's store does not own the connection; the root store closes it.
    if (!this.#inTransaction) await this.#db.destroy();
  }

  /** Name of the newest schema migration applied (not part of Store: for tests and diagnostics). */
  async schemaVersion(): Promise<string | null> {
    return new SchemaMigrator(this.#db, this.dialect).currentVersion();
  }

  // ───────────────────────────── users and tokens

  async createUser(input: { login: string; role: Role; maxGears: number; now: number }): Promise<User> {
    const row = { id: randomUUID(), login: input.login, role: input.role, max_gears: input.maxGears, gear_count: 0, created_at: input.now };
    try {
      await this.#db.insertInto('users').values(row).execute();
    } catch (error) {
      throw translateConstraint(error, {
        unique: () => new ConflictError('user_exists', `user '${input.login}' already exists`, { field: 'login', login: input.login }),
      });
    }
    return toUser(row);
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async getUserByLogin(login: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('login', '=', login).executeTakeFirst();
    return row && toUser(row);
  }

  async listUsers(): Promise<User[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('login').execute();
    return rows.map(toUser);
  }

  async deleteUser(id: string): Promise<void> {
    await this.#atomically(async (db) => {
      const domain = await db.selectFrom('domains').select('name').where('owner_id', '=', id).limit(1).executeTakeFirst();
      if (domain !== undefined) {
        throw new ConflictError('user_has_domains', `user still owns domain '${domain.name}'; delete its domains first`, { userId: id, domain: domain.name });
      }
      // api_tokens and app_sources go with the user (ON DELETE CASCADE).
      let result;
      try {
        result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      } catch (error) {
        // Only an admin's upload can run in another user's app (an admin may create apps anywhere).
        throw translateConstraint(error, {
          foreignKey: () => new ConflictError('user_sources_in_use', "an app of another user runs a source this user uploaded; deploy another source to it first", { userId: id }),
        });
      }
      if (result.numDeletedRows === 0n) throw new NotFoundError('user', id);
    });
  }

  async createToken(input: { userId: string; name: string; tokenHash: string; expiresAt: number | null; now: number }): Promise<ApiToken> {
    const row = { id: randomUUID(), user_id: input.userId, name: input.name, token_hash: input.tokenHash, created_at: input.now, expires_at: input.expiresAt };
    try {
      await this.#db.insertInto('api_tokens').values(row).execute();
    } catch (error) {
      throw translateConstraint(error, {
        // Only a caller reusing a token (not a random one) can get here.
        unique: () => new ConflictError('token_exists', 'a token with this hash already exists', { field: 'tokenHash' }),
        foreignKey: () => new NotFoundError('user', input.userId, 'userId'),
      });
    }
    return toToken(row);
  }

  async findUserByTokenHash(tokenHash: string, now: number): Promise<{ user: User; token: ApiToken } | undefined> {
    const row = await this.#db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .selectAll('u')
      .select(['t.id as token_id', 't.name as token_name', 't.created_at as token_created_at', 't.expires_at as token_expires_at'])
      .where('t.token_hash', '=', tokenHash)
      .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', now)]))
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      user: toUser(row),
      token: { id: row.token_id, userId: row.id, name: row.token_name, createdAt: row.token_created_at, expiresAt: row.token_expires_at },
    };
  }

  async listTokens(userId: string): Promise<ApiToken[]> {
    const rows = await this.#db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toToken);
  }

  async deleteToken(userId: string, tokenId: string): Promise<boolean> {
    // userId in the WHERE: a user cannot delete another user's token by guessing its id.
    const result = await this.#db.deleteFrom('api_tokens').where('id', '=', tokenId).where('user_id', '=', userId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  // ───────────────────────────── domains

  async createDomain(input: { name: string; ownerId: string; now: number }): Promise<Domain> {
    const row = { id: randomUUID(), name: input.name, owner_id: input.ownerId, created_at: input.now };
    try {
      await this.#db.insertInto('domains').values(row).execute();
    } catch (error) {
      throw translateConstraint(error, {
        unique: () => new ConflictError('domain_exists', `domain '${input.name}' already exists`, { field: 'name', name: input.name }),
        foreignKey: () => new NotFoundError('user', input.ownerId, 'ownerId'),
      });
    }
    return toDomain(row);
  }

  async getDomainByName(name: string): Promise<Domain | undefined> {
    const row = await this.#db.selectFrom('domains').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toDomain(row);
  }

  async listDomains(ownerId?: string): Promise<Domain[]> {
    const rows = await this.#db
      .selectFrom('domains')
      .selectAll()
      .$if(ownerId !== undefined, (q) => q.where('owner_id', '=', ownerId!))
      .orderBy('name')
      .execute();
    return rows.map(toDomain);
  }

  async deleteDomain(id: string): Promise<void> {
    await this.#atomically(async (db) => {
      const app = await db.selectFrom('apps').select('name').where('domain_id', '=', id).limit(1).executeTakeFirst();
      if (app !== undefined) {
        throw new ConflictError('domain_has_apps', `domain still has app '${app.name}'; delete its apps first`, { domainId: id, app: app.name });
      }
      const result = await db.deleteFrom('domains').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n) throw new NotFoundError('domain', id);
    });
  }

  // ───────────────────────────── app sources

  async createSource(input: { ownerId: string; archive: Buffer; sha256: string; now: number }): Promise<AppSource> {
    const row: Selectable<AppSourcesTable> = {
      id: randomUUID(),
      owner_id: input.ownerId,
      size: input.archive.byteLength,
      sha256: input.sha256,
      archive: input.archive,
      created_at: input.now,
    };
    try {
      await this.#db.insertInto('app_sources').values(row).execute();
    } catch (error) {
      throw translateConstraint(error, { foreignKey: () => new NotFoundError('user', input.ownerId, 'ownerId') });
    }
    return toSource(row);
  }

  async getSource(id: string): Promise<(AppSource & { readonly archive: Buffer }) | undefined> {
    const row = await this.#db.selectFrom('app_sources').selectAll().where('id', '=', id).executeTakeFirst();
    // better-sqlite3 and pg both hand a blob/bytea back as a Buffer.
    return row && { ...toSource(row), archive: row.archive };
  }

  async listSources(filter: { ids?: readonly string[]; ownerId?: string } = {}): Promise<AppSource[]> {
    const { ids, ownerId } = filter;
    if (ids !== undefined && ids.length === 0) return [];
    // Every column but the archive: views list sources, and archives weigh megabytes each.
    const rows = await this.#db
      .selectFrom('app_sources')
      .select(['id', 'owner_id', 'size', 'sha256', 'created_at'])
      .$if(ids !== undefined, (q) => q.where('id', 'in', ids!))
      .$if(ownerId !== undefined, (q) => q.where('owner_id', '=', ownerId!))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toSource);
  }

  // ───────────────────────────── apps

  async createApp(input: Omit<App, 'id' | 'createdAt' | 'restartGeneration' | 'sourceId' | 'sourceVersion'> & { sourceId?: string | null; now: number }): Promise<App> {
    const sourceId = input.sourceId ?? null;
    // Checked before the insert rather than read from its foreign-key error: that error cannot
    // tell a missing source from a missing domain, and on PostgreSQL a failed statement spoils
    // the caller's transaction, so nothing could be asked after it.
    if (sourceId !== null) {
      const source = await this.#db.selectFrom('app_sources').select('id').where('id', '=', sourceId).executeTakeFirst();
      if (source === undefined) throw new NotFoundError('source', sourceId, 'sourceId');
    }
    const row: Selectable<AppsTable> = {
      id: randomUUID(),
      domain_id: input.domainId,
      name: input.name,
      cartridge: input.cartridge,
      gear_profile: input.gearProfile,
      scale_min: input.scaleMin,
      scale_max: input.scaleMax,
      desired_state: input.desiredState,
      restart_generation: 0,
      source_id: sourceId,
      source_version: sourceId === null ? 0 : 1,
      created_at: input.now,
    };
    try {
      await this.#db.insertInto('apps').values(row).execute();
    } catch (error) {
      throw translateConstraint(error, {
        unique: () => new ConflictError('app_exists', `app '${input.name}' already exists in this domain`, { field: 'name', name: input.name, domainId: input.domainId }),
        foreignKey: () => new NotFoundError('domain', input.domainId, 'domainId'),
      });
    }
    return toApp(row);
  }

  async getApp(domainId: string, name: string): Promise<App | undefined> {
    const row = await this.#db.selectFrom('apps').selectAll().where('domain_id', '=', domainId).where('name', '=', name).executeTakeFirst();
    return row && toApp(row);
  }

  async getAppById(id: string): Promise<App | undefined> {
    const row = await this.#db.selectFrom('apps').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toApp(row);
  }

  async listApps(filter: { domainId?: string; ownerId?: string } = {}): Promise<App[]> {
    const { domainId, ownerId } = filter;
    const rows = await this.#db
      .selectFrom('apps')
      .selectAll('apps')
      .$if(domainId !== undefined, (q) => q.where('apps.domain_id', '=', domainId!))
      .$if(ownerId !== undefined, (q) => q.where('apps.domain_id', 'in', (eb) => eb.selectFrom('domains').select('domains.id').where('domains.owner_id', '=', ownerId!)))
      .orderBy('apps.name')
      .orderBy('apps.domain_id')
      .execute();
    return rows.map(toApp);
  }

  async setAppDesiredState(appId: string, state: DesiredState): Promise<void> {
    await this.#atomically(async (db) => {
      const result = await db.updateTable('apps').set({ desired_state: state }).where('id', '=', appId).executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw new NotFoundError('app', appId);
      // The app's desired state is its gears' (model.ts): node agents read it per gear, and
      // nodes.active_gears counts started ones (and their moves' targets), so all change together.
      await adjustActiveGears(db, { appId, desiredState: state === 'started' ? 'stopped' : 'started' }, state === 'started' ? 1 : -1);
      await db.updateTable('gears').set({ desired_state: state }).where('app_id', '=', appId).where('desired_state', '!=', state).execute();
    });
  }

  async setAppSource(appId: string, sourceId: string): Promise<number> {
    let row;
    try {
      row = await this.#db
        .updateTable('apps')
        .set((eb) => ({ source_id: sourceId, source_version: eb('source_version', '+', 1) }))
        .where('id', '=', appId)
        .returning('source_version')
        .executeTakeFirst();
    } catch (error) {
      throw translateConstraint(error, { foreignKey: () => new NotFoundError('source', sourceId, 'sourceId') });
    }
    if (row === undefined) throw new NotFoundError('app', appId);
    return row.source_version;
  }

  async bumpAppRestartGeneration(appId: string): Promise<number> {
    const row = await this.#db
      .updateTable('apps')
      .set((eb) => ({ restart_generation: eb('restart_generation', '+', 1) }))
      .where('id', '=', appId)
      .returning('restart_generation')
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('app', appId);
    return row.restart_generation;
  }

  async setAppScale(appId: string, scaleMin: number, scaleMax: number): Promise<void> {
    const result = await this.#db.updateTable('apps').set({ scale_min: scaleMin, scale_max: scaleMax }).where('id', '=', appId).executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw new NotFoundError('app', appId);
  }

  async deleteApp(appId: string): Promise<void> {
    await this.#atomically(async (db) => {
      // IMPORTANT: give the UIDs back (and fix the counters) before deleting the gears,
      // because the gears are what says which UIDs the app held.
      await db
        .updateTable('districts')
        .set((eb) => ({
          available_uids: eb(
            'available_uids',
            '+',
            eb.selectFrom('gears').select(eb.fn.countAll<number>().as('count')).where('gears.app_id', '=', appId).whereRef('gears.district_id', '=', 'districts.id'),
          ),
        }))
        .where('id', 'in', (eb) => eb.selectFrom('gears').select('gears.district_id').where('gears.app_id', '=', appId))
        .execute();
      await db
        .updateTable('users')
        .set((eb) => ({ gear_count: eb('gear_count', '-', eb.selectFrom('gears').select(eb.fn.countAll<number>().as('count')).where('gears.app_id', '=', appId)) }))
        .where('id', '=', ownerOfApp(db, appId))
        .execute();
      await db
        .insertInto('district_uids')
        .columns(['district_id', 'uid'])
        .expression(db.selectFrom('gears').select(['district_id', 'uid']).where('app_id', '=', appId))
        .execute();
      await adjustActiveGears(db, { appId, desiredState: 'started' }, -1);
      await db.deleteFrom('gears').where('app_id', '=', appId).execute();
      const result = await db.deleteFrom('apps').where('id', '=', appId).executeTakeFirst();
      if (result.numDeletedRows === 0n) throw new NotFoundError('app', appId);
    });
  }

  async countUserGears(userId: string): Promise<number> {
    // Read from the counter createGear/deleteGear/deleteApp keep (migration 0002): counting
    // through apps and domains grows with the user's gears, and this runs on every app creation.
    const row = await this.#db.selectFrom('users').select('gear_count').where('id', '=', userId).executeTakeFirst();
    return row?.gear_count ?? 0;
  }

  // ───────────────────────────── gears

  async createGear(input: { appId: string; nodeId: string; districtId: string; uid: number; desiredState: DesiredState; now: number }): Promise<Gear> {
    const row: Selectable<GearsTable> = {
      // OpenShift's gear UUIDs are 32 hex characters; they end up in user names and paths.
      id: randomUUID().replaceAll('-', ''),
      app_id: input.appId,
      node_id: input.nodeId,
      district_id: input.districtId,
      uid: input.uid,
      desired_state: input.desiredState,
      observed_state: 'new',
      endpoint: null,
      created_at: input.now,
      updated_at: input.now,
    };
    try {
      await this.#atomically(async (db) => {
        await db.insertInto('gears').values(row).execute();
        if (input.desiredState === 'started') await addActive(db, input.nodeId, 1);
        await db
          .updateTable('users')
          .set((eb) => ({ gear_count: eb('gear_count', '+', 1) }))
          .where('id', '=', ownerOfApp(db, input.appId))
          .execute();
      });
    } catch (error) {
      throw translateConstraint(error, {
        unique: () => new ConflictError('uid_in_use', `UID ${input.uid} is already held by another gear of the district`, { field: 'uid', uid: input.uid, districtId: input.districtId }),
        // The app, node or district went away between the caller's checks and this insert.
        foreignKey: () =>
          new ConflictError('gear_reference_missing', 'the app, node or district of the new gear no longer exists', {
            appId: input.appId,
            nodeId: input.nodeId,
            districtId: input.districtId,
          }),
      });
    }
    return toGear(row);
  }

  async getGear(id: string): Promise<Gear | undefined> {
    const row = await this.#db.selectFrom('gears').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toGear(row);
  }

  async listGears(filter: { appId?: string; nodeId?: string; nodeIds?: readonly string[]; appIds?: readonly string[] } = {}): Promise<Gear[]> {
    const { appId, nodeId, nodeIds, appIds } = filter;
    if (nodeIds?.length === 0 || appIds?.length === 0) return [];
    const rows = await this.#db
      .selectFrom('gears')
      .selectAll()
      .$if(appId !== undefined, (q) => q.where('app_id', '=', appId!))
      .$if(nodeId !== undefined, (q) => q.where('node_id', '=', nodeId!))
      .$if(nodeIds !== undefined, (q) => q.where('node_id', 'in', nodeIds!))
      .$if(appIds !== undefined, (q) => q.where('app_id', 'in', appIds!))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toGear);
  }

  async listNodeAssignments(nodeId: string): Promise<NodeAssignment[]> {
    const rows = await this.#db
      .selectFrom('gears')
      .innerJoin('apps', 'apps.id', 'gears.app_id')
      .innerJoin('domains', 'domains.id', 'apps.domain_id')
      .select([
        'gears.id as gear_id',
        'gears.uid',
        'gears.desired_state',
        'apps.id as app_id',
        'apps.name as app_name',
        'apps.cartridge',
        'apps.gear_profile',
        'apps.restart_generation',
        'apps.source_version',
        'domains.name as domain_name',
      ])
      // A gear moving here is this node's from the moment its copy is to be made (docs/moves.md).
      .where((eb) =>
        eb.or([
          eb('gears.node_id', '=', nodeId),
          eb('gears.id', 'in', eb.selectFrom('gear_moves').select('gear_moves.gear_id').where('gear_moves.target_node_id', '=', nodeId).where('gear_moves.phase', 'in', [...TARGET_VISIBLE_PHASES])),
        ]),
      )
      .orderBy('gears.created_at')
      .orderBy('gears.id')
      .execute();
    return rows.map((row) => ({
      gearId: row.gear_id,
      uid: row.uid,
      appId: row.app_id,
      appName: row.app_name,
      domainName: row.domain_name,
      cartridge: row.cartridge,
      gearProfile: row.gear_profile,
      desiredState: row.desired_state,
      restartGeneration: row.restart_generation,
      // 0 is "never deployed" in the table; agents read null as "run the built-in app".
      sourceVersion: row.source_version === 0 ? null : row.source_version,
    }));
  }

  async listRouteEntries(): Promise<RouteEntry[]> {
    // A left join keeps apps without a started gear: the router answers 503 for them, not 404.
    const rows = await this.#db
      .selectFrom('apps')
      .innerJoin('domains', 'domains.id', 'apps.domain_id')
      .leftJoin('gears', (join) =>
        join.onRef('gears.app_id', '=', 'apps.id').on('gears.observed_state', '=', 'started').on('gears.endpoint', 'is not', null),
      )
      .select(['apps.id as app_id', 'apps.name as app_name', 'apps.desired_state', 'domains.name as domain_name', 'gears.id as gear_id', 'gears.endpoint'])
      .orderBy('domains.name')
      .orderBy('apps.name')
      .orderBy('gears.endpoint')
      .execute();
    const entries: RouteEntry[] = [];
    let current: { appId: string; appName: string; domainName: string; desiredState: DesiredState; gears: { gearId: string; endpoint: string }[] } | undefined;
    for (const row of rows) {
      if (current?.appId !== row.app_id) {
        current = { appId: row.app_id, appName: row.app_name, domainName: row.domain_name, desiredState: row.desired_state, gears: [] };
        entries.push(current);
      }
      if (row.gear_id !== null && row.endpoint !== null) current.gears.push({ gearId: row.gear_id, endpoint: row.endpoint });
    }
    return entries;
  }

  async deleteGear(id: string): Promise<void> {
    await this.#atomically(async (db) => {
      // Its move, if any, goes with it (on delete cascade), and the room it held on the target.
      await adjustActiveGears(db, { gearId: id, desiredState: 'started' }, -1);
      const gear = await db.deleteFrom('gears').where('id', '=', id).returning(['district_id', 'uid', 'app_id']).executeTakeFirst();
      if (gear === undefined) throw new NotFoundError('gear', id);
      await db.insertInto('district_uids').values({ district_id: gear.district_id, uid: gear.uid }).execute();
      await db.updateTable('districts').set((eb) => ({ available_uids: eb('available_uids', '+', 1) })).where('id', '=', gear.district_id).execute();
      await db.updateTable('users').set((eb) => ({ gear_count: eb('gear_count', '-', 1) })).where('id', '=', ownerOfApp(db, gear.app_id)).execute();
    });
  }

  async reportGear(input: { gearId: string; nodeId: string; observedState: GearObservedState; endpoint: string | null; now: number }): Promise<boolean> {
    // node_id in the WHERE: after a move, the old node's late report must not overwrite the new one's.
    const result = await this.#db
      .updateTable('gears')
      .set({ observed_state: input.observedState, endpoint: input.endpoint, updated_at: input.now })
      .where('id', '=', input.gearId)
      .where('node_id', '=', input.nodeId)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async createGearMove(input: Omit<GearMove, 'routePhase' | 'targetState' | 'targetEndpoint' | 'pauseMs' | 'error' | 'createdAt' | 'updatedAt'> & { now: number }): Promise<GearMove> {
    const row: Selectable<GearMovesTable> = {
      gear_id: input.gearId,
      app_id: input.appId,
      operation_id: input.operationId,
      source_node_id: input.sourceNodeId,
      target_node_id: input.targetNodeId,
      target_district_id: input.targetDistrictId,
      target_uid: input.targetUid,
      token: input.token,
      phase: input.phase,
      route_phase: 'source',
      target_state: 'pending',
      target_endpoint: null,
      pause_ms: null,
      error: null,
      created_at: input.now,
      updated_at: input.now,
    };
    try {
      await this.#atomically(async (db) => {
        await db.insertInto('gear_moves').values(row).execute();
        // The target holds room for the gear from now on, if it is to run.
        await db
          .updateTable('nodes')
          .set((eb) => ({ active_gears: eb('active_gears', '+', eb.selectFrom('gears').select(eb.fn.countAll<number>().as('count')).where('id', '=', input.gearId).where('desired_state', '=', 'started')) }))
          .where('id', '=', input.targetNodeId)
          .execute();
      });
    } catch (error) {
      throw translateConstraint(error, {
        unique: () => new ConflictError('gear_moving', `gear ${input.gearId} is already being moved`, { field: 'gears', gearId: input.gearId }),
        foreignKey: () => new NotFoundError('gear', input.gearId, 'gears'),
      });
    }
    return toGearMove(row);
  }

  async getGearMove(gearId: string): Promise<GearMove | undefined> {
    const row = await this.#db.selectFrom('gear_moves').selectAll().where('gear_id', '=', gearId).executeTakeFirst();
    return row && toGearMove(row);
  }

  async listGearMoves(filter: { nodeId?: string } = {}): Promise<GearMove[]> {
    const { nodeId } = filter;
    const rows = await this.#db
      .selectFrom('gear_moves')
      .selectAll()
      .$if(nodeId !== undefined, (q) => q.where((eb) => eb.or([eb('source_node_id', '=', nodeId!), eb('target_node_id', '=', nodeId!)])))
      .orderBy('created_at')
      .orderBy('gear_id')
      .execute();
    return rows.map(toGearMove);
  }

  async updateGearMove(gearId: string, update: Partial<Pick<GearMove, 'phase' | 'routePhase' | 'targetState' | 'targetEndpoint' | 'pauseMs' | 'error'>> & { now: number }): Promise<GearMove> {
    const row = await this.#db
      .updateTable('gear_moves')
      .set({
        ...(update.phase === undefined ? {} : { phase: update.phase }),
        ...(update.routePhase === undefined ? {} : { route_phase: update.routePhase }),
        ...(update.targetState === undefined ? {} : { target_state: update.targetState }),
        ...(update.targetEndpoint === undefined ? {} : { target_endpoint: update.targetEndpoint }),
        ...(update.pauseMs === undefined ? {} : { pause_ms: update.pauseMs }),
        ...(update.error === undefined ? {} : { error: update.error }),
        updated_at: update.now,
      })
      .where('gear_id', '=', gearId)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('gear move', gearId);
    return toGearMove(row);
  }

  async deleteGearMove(gearId: string): Promise<void> {
    await this.#atomically(async (db) => {
      const move = await db.deleteFrom('gear_moves').where('gear_id', '=', gearId).returning(['target_district_id', 'target_uid', 'target_node_id']).executeTakeFirst();
      if (move === undefined) return; // already ended: rollback is idempotent
      const gear = await db.selectFrom('gears').select(['district_id', 'desired_state']).where('id', '=', gearId).executeTakeFirst();
      // The room it held on the target is free again.
      if (gear?.desired_state === 'started') await addActive(db, move.target_node_id, -1);
      // A move to another district reserved a UID there; give it back.
      if (gear !== undefined && gear.district_id !== move.target_district_id) await freeUid(db, move.target_district_id, move.target_uid);
    });
  }

  async completeGearMove(gearId: string, now: number): Promise<Gear> {
    return this.#atomically(async (db) => {
      const move = await db.deleteFrom('gear_moves').where('gear_id', '=', gearId).returningAll().executeTakeFirst();
      if (move === undefined) throw new NotFoundError('gear move', gearId);
      const before = await db.selectFrom('gears').select(['district_id', 'uid', 'node_id', 'desired_state']).where('id', '=', gearId).executeTakeFirstOrThrow();
      // The room held on the target becomes the gear's own; the source's is free.
      if (before.desired_state === 'started') await addActive(db, before.node_id, -1);
      const gear = await db
        .updateTable('gears')
        .set({
          node_id: move.target_node_id,
          district_id: move.target_district_id,
          uid: move.target_uid,
          observed_state: 'started',
          endpoint: move.target_endpoint,
          updated_at: now,
        })
        .where('id', '=', gearId)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (before.district_id !== move.target_district_id) await freeUid(db, before.district_id, before.uid);
      return toGear(gear);
    });
  }

  async recordRouterPoll(input: { name: string; served: boolean; now: number }): Promise<void> {
    await this.#db
      .insertInto('routers')
      .values({ name: input.name, last_seen_at: input.now, last_served_at: input.served ? input.now : 0 })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet((eb) => ({
          last_seen_at: input.now,
          ...(input.served ? { last_served_at: input.now } : { last_served_at: eb.ref('routers.last_served_at') }),
        })),
      )
      .execute();
  }

  async listRouters(since: number): Promise<{ name: string; lastSeenAt: number; lastServedAt: number }[]> {
    const rows = await this.#db.selectFrom('routers').selectAll().where('last_seen_at', '>=', since).orderBy('name').execute();
    return rows.map((row) => ({ name: row.name, lastSeenAt: Number(row.last_seen_at), lastServedAt: Number(row.last_served_at) }));
  }

  async allocateUid(districtId: string): Promise<number> {
    return this.#atomically(async (db) => {
      // IMPORTANT: take the district row first, then a UID row — the order add/remove capacity
      // use too — because on PostgreSQL the opposite order can deadlock against them. Holding
      // the district row also keeps concurrent allocations in one district from racing for
      // the same lowest UID: the second waits here and then sees the first one's UID gone.
      const district = await db
        .updateTable('districts')
        .set((eb) => ({ available_uids: eb('available_uids', '-', 1) }))
        .where('id', '=', districtId)
        .returning(['name', 'gear_profile'])
        .executeTakeFirst();
      if (district === undefined) throw new NotFoundError('district', districtId, 'districtId');
      const taken = await db
        .deleteFrom('district_uids')
        .where('district_id', '=', districtId)
        .where('uid', '=', (eb) => eb.selectFrom('district_uids').select('uid').where('district_id', '=', districtId).orderBy('uid').limit(1))
        .returning('uid')
        .executeTakeFirst();
      if (taken !== undefined) return taken.uid;

      // Nothing was taken: put the counter back (the caller's transaction may carry on).
      await db.updateTable('districts').set((eb) => ({ available_uids: eb('available_uids', '+', 1) })).where('id', '=', districtId).execute();
      throw new ExhaustedError('district_uids_exhausted', `district '${district.name}' has no UIDs left`, {
        district: district.name,
        profile: district.gear_profile,
      });
    });
  }

  // ───────────────────────────── districts

  async createDistrict(input: { name: string; gearProfile: string; firstUid: number; maxCapacity: number; now: number }): Promise<District> {
    requirePositiveInteger(input.maxCapacity, 'maxCapacity');
    if (!Number.isInteger(input.firstUid) || input.firstUid < 1) throw new InputError(`firstUid must be a positive integer, not ${input.firstUid}`, 'firstUid');
    const row = {
      id: randomUUID(),
      name: input.name,
      gear_profile: input.gearProfile,
      first_uid: input.firstUid,
      max_capacity: input.maxCapacity,
      available_uids: input.maxCapacity,
      created_at: input.now,
    };
    await this.#atomically(async (db) => {
      try {
        await db.insertInto('districts').values(row).execute();
      } catch (error) {
        throw translateConstraint(error, {
          unique: () => new ConflictError('district_exists', `district '${input.name}' already exists`, { field: 'name', name: input.name }),
        });
      }
      await insertFreeUids(db, row.id, input.firstUid, input.firstUid + input.maxCapacity - 1);
    });
    return toDistrict(row);
  }

  async getDistrictByName(name: string): Promise<District | undefined> {
    const row = await this.#db.selectFrom('districts').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toDistrict(row);
  }

  async getDistrict(id: string): Promise<District | undefined> {
    const row = await this.#db.selectFrom('districts').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toDistrict(row);
  }

  async listDistricts(): Promise<District[]> {
    // availableUids is the counter kept with the pool (migration 0002): one plain query, where
    // counting free UIDs, even grouped, grew with the size of every pool.
    const rows = await this.#db.selectFrom('districts').selectAll().orderBy('name').execute();
    return rows.map(toDistrict);
  }

  async addDistrictCapacity(districtId: string, count: number): Promise<District> {
    requirePositiveInteger(count, 'count');
    return this.#atomically(async (db) => {
      const district = await this.#lockDistrict(db, districtId);
      const end = district.first_uid + district.max_capacity;
      await insertFreeUids(db, districtId, end, end + count - 1);
      const row = await db
        .updateTable('districts')
        .set((eb) => ({ max_capacity: district.max_capacity + count, available_uids: eb('available_uids', '+', count) }))
        .where('id', '=', districtId)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toDistrict(row);
    });
  }

  async removeDistrictCapacity(districtId: string, count: number): Promise<District> {
    requirePositiveInteger(count, 'count');
    return this.#atomically(async (db) => {
      const district = await this.#lockDistrict(db, districtId);
      const end = district.first_uid + district.max_capacity;
      const from = end - count;
      // Check before deleting rather than delete-and-roll-back: when the caller's transaction
      // is reused, a caught ConflictError must not leave half the UIDs removed.
      const free = await db
        .selectFrom('district_uids')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('district_id', '=', districtId)
        .where('uid', '>=', from)
        .executeTakeFirstOrThrow();
      if (count > district.max_capacity || Number(free.count) < count) {
        throw new ConflictError(
          'capacity_in_use',
          `district '${district.name}' cannot give up ${count} UIDs: only ${Number(free.count)} of the last ${Math.min(count, district.max_capacity)} are free`,
          { field: 'count', district: district.name, requested: count, freeAtEnd: Number(free.count) },
        );
      }
      await db.deleteFrom('district_uids').where('district_id', '=', districtId).where('uid', '>=', from).execute();
      const row = await db
        .updateTable('districts')
        .set((eb) => ({ max_capacity: district.max_capacity - count, available_uids: eb('available_uids', '-', count) }))
        .where('id', '=', districtId)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toDistrict(row);
    });
  }

  async deleteDistrict(id: string): Promise<void> {
    await this.#atomically(async (db) => {
      const node = await db.selectFrom('nodes').select('name').where('district_id', '=', id).limit(1).executeTakeFirst();
      if (node !== undefined) {
        throw new ConflictError('district_has_nodes', `district still has node '${node.name}'; remove its nodes first`, { districtId: id, node: node.name });
      }
      // A node can leave a district while its gears still hold the district's UIDs.
      const gear = await db.selectFrom('gears').select('id').where('district_id', '=', id).limit(1).executeTakeFirst();
      if (gear !== undefined) {
        throw new ConflictError('district_has_gears', `district still has gear '${gear.id}'`, { districtId: id, gear: gear.id });
      }
      // The free UIDs go with it (ON DELETE CASCADE).
      const result = await db.deleteFrom('districts').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n) throw new NotFoundError('district', id);
    });
  }

  // ───────────────────────────── nodes

  async upsertNodeRegistration(input: {
    name: string;
    gearProfile: string;
    maxActiveGears: number;
    endpoint: string | null;
    scaleEventId: string | null;
    credentialHash: string;
    now: number;
  }): Promise<Node> {
    const row = await this.#db
      .insertInto('nodes')
      .values({
        id: randomUUID(),
        name: input.name,
        gear_profile: input.gearProfile,
        district_id: null,
        state: 'active',
        state_before_lost: null,
        max_active_gears: input.maxActiveGears,
        active_gears: 0,
        gears_started: 0,
        gears_idle: 0,
        gears_stopped: 0,
        gears_unknown: 0,
        active_usage_pct: 0,
        endpoint: input.endpoint,
        scale_event_id: input.scaleEventId,
        credential_hash: input.credentialHash,
        last_heartbeat_at: input.now,
        created_at: input.now,
      })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet((eb) => ({
          endpoint: eb.ref('excluded.endpoint'),
          max_active_gears: eb.ref('excluded.max_active_gears'),
          credential_hash: eb.ref('excluded.credential_hash'),
          // A restarted agent may no longer know which scale-up started it; keep what we knew.
          scale_event_id: eb.fn.coalesce('excluded.scale_event_id', 'nodes.scale_event_id'),
          last_heartbeat_at: eb.ref('excluded.last_heartbeat_at'),
          // Registering is a heartbeat: a lost node returns to its state, a provisioning (or
          // gone, then re-created under its name) node becomes active, any other keeps its state
          // (an operator's deactivation survives an agent restart).
          state: sql<NodeState>`case when nodes.state = 'lost' then coalesce(nodes.state_before_lost, 'active') when nodes.state in ('provisioning', 'gone') then 'active' else nodes.state end`,
          state_before_lost: sql<NodeState | null>`case when nodes.state = 'lost' then null else nodes.state_before_lost end`,
        })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    return toNode(row);
  }

  async getNode(id: string): Promise<Node | undefined> {
    const row = await this.#db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toNode(row);
  }

  async getNodeByName(name: string): Promise<Node | undefined> {
    const row = await this.#db.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toNode(row);
  }

  async findNodeByCredentialHash(credentialHash: string): Promise<Node | undefined> {
    const row = await this.#db.selectFrom('nodes').selectAll().where('credential_hash', '=', credentialHash).executeTakeFirst();
    return row && toNode(row);
  }

  async listNodes(filter: { ids?: readonly string[]; districtId?: string; gearProfile?: string; states?: NodeState[] } = {}): Promise<Node[]> {
    const { ids, districtId, gearProfile, states } = filter;
    // `in ()` is a syntax error; no state (or id) asked for means no node.
    if ((states !== undefined && states.length === 0) || ids?.length === 0) return [];
    const rows = await this.#db
      .selectFrom('nodes')
      .selectAll()
      .$if(ids !== undefined, (q) => q.where('id', 'in', ids!))
      .$if(districtId !== undefined, (q) => q.where('district_id', '=', districtId!))
      .$if(gearProfile !== undefined, (q) => q.where('gear_profile', '=', gearProfile!))
      .$if(states !== undefined, (q) => q.where('state', 'in', states!))
      .orderBy('name')
      .execute();
    return rows.map(toNode);
  }

  async listPlacementNodes(gearProfile: string): Promise<PlacementNode[]> {
    const rows = await this.#db
      .selectFrom('nodes')
      .select(['id', 'name', 'gear_profile', 'district_id', 'state', 'max_active_gears', 'active_gears'])
      .where('gear_profile', '=', gearProfile)
      .where('state', '!=', 'gone')
      .orderBy('name')
      .execute();
    return rows.map((row) => ({ id: row.id, name: row.name, gearProfile: row.gear_profile, districtId: row.district_id, state: row.state, maxActiveGears: row.max_active_gears, activeGears: row.active_gears }));
  }

  async setNodeDistrict(nodeId: string, districtId: string | null): Promise<void> {
    let result;
    try {
      result = await this.#db.updateTable('nodes').set({ district_id: districtId }).where('id', '=', nodeId).executeTakeFirst();
    } catch (error) {
      throw translateConstraint(error, { foreignKey: () => new NotFoundError('district', String(districtId), 'districtId') });
    }
    if (result.numUpdatedRows === 0n) throw new NotFoundError('node', nodeId);
  }

  async setNodeState(nodeId: string, state: NodeState, stateBeforeLost?: NodeState | null): Promise<void> {
    const result = await this.#db
      .updateTable('nodes')
      .set(stateBeforeLost === undefined ? { state } : { state, state_before_lost: stateBeforeLost })
      .where('id', '=', nodeId)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw new NotFoundError('node', nodeId);
  }

  async recordHeartbeat(input: { nodeId: string; maxActiveGears: number; reportedGears: GearCounts; activeUsagePct: number; now: number }): Promise<Node> {
    const row = await this.#db
      .updateTable('nodes')
      .set({
        max_active_gears: input.maxActiveGears,
        gears_started: input.reportedGears.started,
        gears_idle: input.reportedGears.idle,
        gears_stopped: input.reportedGears.stopped,
        gears_unknown: input.reportedGears.unknown,
        active_usage_pct: input.activeUsagePct,
        last_heartbeat_at: input.now,
        // lost ──heartbeat──▶ the state it had before (model.ts). Done here, in the same
        // statement, so a heartbeat racing markLostNodes cannot leave a live node lost.
        state: sql<NodeState>`case when state = 'lost' then coalesce(state_before_lost, 'active') else state end`,
        state_before_lost: sql<NodeState | null>`case when state = 'lost' then null else state_before_lost end`,
      })
      .where('id', '=', input.nodeId)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('node', input.nodeId);
    return toNode(row);
  }

  async markLostNodes(before: number): Promise<Node[]> {
    const rows = await this.#db
      .updateTable('nodes')
      // Both sides of SET read the row as it was, so state_before_lost gets the old state.
      .set((eb) => ({ state_before_lost: eb.ref('state'), state: 'lost' as NodeState }))
      .where('state', 'in', LOSABLE_STATES)
      // A node that never heartbeated is judged by when it was created.
      .where((eb) => eb(eb.fn.coalesce('last_heartbeat_at', 'created_at'), '<', before))
      .returningAll()
      .execute();
    return rows.map(toNode).sort((a, b) => a.name.localeCompare(b.name));
  }

  async countGearsByNode(nodeIds: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>(nodeIds.map((id) => [id, 0]));
    if (nodeIds.length === 0) return counts;
    const rows = await this.#db
      .selectFrom('gears')
      .select((eb) => ['node_id', eb.fn.countAll<number>().as('total')])
      .where('node_id', 'in', nodeIds)
      .groupBy('node_id')
      .execute();
    for (const row of rows) counts.set(row.node_id, Number(row.total));
    return counts;
  }

  async countActiveGearsByNode(nodeIds?: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (nodeIds !== undefined && nodeIds.length === 0) return counts;
    // Every node asked about gets an entry, zero included, so callers need no `?? 0`.
    for (const id of nodeIds ?? []) counts.set(id, 0);
    // nodes.active_gears (migration 0006): gears desired started here, plus those moving in — a
    // move holds its room on the target from the moment it is planned, so parallel moves and
    // placements cannot over-fill it.
    const rows = await this.#db
      .selectFrom('nodes')
      .select(['id', 'active_gears'])
      .$if(nodeIds !== undefined, (q) => q.where('id', 'in', nodeIds!))
      .$if(nodeIds === undefined, (q) => q.where('active_gears', '>', 0))
      .execute();
    for (const row of rows) counts.set(row.id, Number(row.active_gears));
    return counts;
  }

  async countGearsOnNode(nodeId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('gears')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('node_id', '=', nodeId)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  // ───────────────────────────── operations journal

  async createOperation(input: { kind: string; subject: string; phase: string; data: Record<string, unknown>; now: number }): Promise<Operation> {
    const row: Selectable<OperationsTable> = {
      id: randomUUID(),
      kind: input.kind,
      subject: input.subject,
      phase: input.phase,
      status: 'running',
      data: JSON.stringify(input.data),
      error: null,
      created_at: input.now,
      updated_at: input.now,
    };
    await this.#db.insertInto('operations').values(row).execute();
    return toOperation(row);
  }

  async updateOperation(
    id: string,
    update: { phase?: string; status?: OperationStatus; data?: Record<string, unknown>; error?: string | null; now: number },
  ): Promise<Operation> {
    return this.#atomically(async (db) => {
      const current = await db
        .selectFrom('operations')
        .select('data')
        .where('id', '=', id)
        .$if(this.#features.rowLocks, (q) => q.forUpdate())
        .executeTakeFirst();
      if (current === undefined) throw new NotFoundError('operation', id);
      // A shallow merge: each phase adds what the next one (or a resuming broker) needs.
      const data = update.data === undefined ? current.data : JSON.stringify({ ...parseJsonObject(current.data), ...update.data });
      const row = await db
        .updateTable('operations')
        .set({
          data,
          updated_at: update.now,
          ...(update.phase === undefined ? {} : { phase: update.phase }),
          ...(update.status === undefined ? {} : { status: update.status }),
          ...(update.error === undefined ? {} : { error: update.error }),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toOperation(row);
    });
  }

  async getOperation(id: string): Promise<Operation | undefined> {
    const row = await this.#db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toOperation(row);
  }

  async listOperations(filter: { status?: OperationStatus[]; kind?: string } = {}): Promise<Operation[]> {
    const { status, kind } = filter;
    if (status !== undefined && status.length === 0) return [];
    const rows = await this.#db
      .selectFrom('operations')
      .selectAll()
      .$if(status !== undefined, (q) => q.where('status', 'in', status!))
      .$if(kind !== undefined, (q) => q.where('kind', '=', kind!))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toOperation);
  }

  // ───────────────────────────── the autoscaler

  async getPoolMemory(pool: string): Promise<PoolMemory> {
    const row = await this.#db.selectFrom('scale_pools').selectAll().where('name', '=', pool).executeTakeFirst();
    if (row === undefined) return EMPTY_POOL_MEMORY;
    const saved = JSON.parse(row.memory) as Partial<PoolMemory>;
    return Object.freeze({
      ...EMPTY_POOL_MEMORY,
      ...saved,
      paused: row.paused_by === null ? null : { by: row.paused_by, at: Number(row.paused_at) },
      unplaced: row.unplaced_at === null || row.unplaced_gears <= 0 ? null : { gears: row.unplaced_gears, district: row.unplaced_district, at: Number(row.unplaced_at) },
    });
  }

  async savePoolMemory(pool: string, memory: PoolMemory, now: number): Promise<void> {
    const { paused: _paused, unplaced: _unplaced, ...own } = memory;
    const text = JSON.stringify(own);
    await this.#db
      .insertInto('scale_pools')
      .values({ name: pool, memory: text, updated_at: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ memory: text, updated_at: now }))
      .execute();
  }

  async setPoolPaused(pool: string, paused: { by: string; at: number } | null, now: number): Promise<void> {
    const values = { paused_by: paused?.by ?? null, paused_at: paused?.at ?? null, updated_at: now };
    await this.#db
      .insertInto('scale_pools')
      .values({ name: pool, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values))
      .execute();
  }

  async recordUnplaced(pool: string, input: { gears: number; district: string | null; now: number }): Promise<void> {
    const values = { unplaced_gears: input.gears, unplaced_district: input.district, unplaced_at: input.now, updated_at: input.now };
    await this.#db
      .insertInto('scale_pools')
      .values({ name: pool, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values))
      .execute();
  }

  async acquireLease(input: { name: string; holder: string; ttlMs: number; now: number }): Promise<boolean> {
    const expiresAt = input.now + input.ttlMs;
    // One statement either way: an insert when nobody ever held it, else a conditional update
    // that only the holder or a taker of an expired lease can make. The row count says who won.
    const inserted = await this.#db
      .insertInto('leases')
      .values({ name: input.name, holder: input.holder, expires_at: expiresAt })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return true;
    const updated = await this.#db
      .updateTable('leases')
      .set({ holder: input.holder, expires_at: expiresAt })
      .where('name', '=', input.name)
      .where((eb) => eb.or([eb('holder', '=', input.holder), eb('expires_at', '<', input.now)]))
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.#db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  // ───────────────────────────── events

  async appendEvent(input: {
    kind: string;
    severity: EventSeverity;
    subject: string;
    message: string;
    userId: string | null;
    data?: Record<string, unknown>;
    now: number;
  }): Promise<PlatformEvent> {
    const row = await this.#db
      .insertInto('events')
      .values({
        time: input.now,
        kind: input.kind,
        severity: input.severity,
        subject: input.subject,
        message: input.message,
        user_id: input.userId,
        data: JSON.stringify(input.data ?? {}),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toEvent(row);
  }

  async listEvents(filter: { after?: number; limit: number; userId?: string; kind?: string; newest?: boolean }): Promise<PlatformEvent[]> {
    const { after, limit, userId, kind, newest = false } = filter;
    if (!Number.isInteger(limit) || limit < 0) throw new InputError(`limit must be a non-negative integer, not ${limit}`, 'limit');
    if (limit === 0) return [];
    const rows = await this.#db
      .selectFrom('events')
      .selectAll()
      .$if(after !== undefined, (q) => q.where('id', '>', after!))
      .$if(userId !== undefined, (q) => q.where('user_id', '=', userId!))
      // `node` means node.lost, node.registered…: a kind or any kind below it (kinds are dotted).
      // A prefix compare, not LIKE: no wildcard in a kind can widen it, on either dialect.
      .$if(kind !== undefined, (q) => q.where((eb) => eb.or([eb('kind', '=', kind!), eb(sql<string>`substr(kind, 1, ${kind!.length + 1})`, '=', `${kind!}.`)])))
      .orderBy('id', newest ? 'desc' : 'asc')
      .limit(limit)
      .execute();
    // Newest were read newest first; they are returned, like every list of events, oldest first.
    return (newest ? rows.reverse() : rows).map(toEvent);
  }

  // ───────────────────────────── helpers

  /** Runs `work` in a transaction: the caller's if there is one, else a new one. */
  async #atomically<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return work(this.#db);
    return this.#features.runTransaction(this.#db, work);
  }

  /** The district row, locked against concurrent capacity changes on PostgreSQL. */
  async #lockDistrict(db: Kysely<Database>, districtId: string) {
    const district = await db
      .selectFrom('districts')
      .select(['name', 'first_uid', 'max_capacity'])
      .where('id', '=', districtId)
      .$if(this.#features.rowLocks, (q) => q.forUpdate())
      .executeTakeFirst();
    if (district === undefined) throw new NotFoundError('district', districtId);
    return district;
  }
}

/**
 * Inserts the free UIDs from … to (inclusive) with one statement, generated by the database
 * (a recursive CTE, valid on both dialects), so a 6000-UID district costs one round trip and no
 * bound-parameter limit is reached however large the pool.
 */
async function insertFreeUids(db: Kysely<Database>, districtId: string, from: number, to: number): Promise<void> {
  await sql`
    with recursive seq(uid) as (
      select cast(${from} as integer)
      union all
      select uid + 1 from seq where uid < ${to}
    )
    insert into district_uids (district_id, uid)
    select cast(${districtId} as text), uid from seq`.execute(db);
}

/** nodes.active_gears += delta on one node (see migration 0006). */
async function addActive(db: Kysely<Database>, nodeId: string, delta: 1 | -1): Promise<void> {
  await db.updateTable('nodes').set((eb) => ({ active_gears: eb('active_gears', '+', delta) })).where('id', '=', nodeId).execute();
}

/**
 * nodes.active_gears ± the gears of an app (or one gear) whose desired state is `desiredState`:
 * on the nodes they are placed on, and on the targets of those of them being moved (a move
 * holds room there). Run before the gears change, in the same transaction.
 */
async function adjustActiveGears(db: Kysely<Database>, which: { appId: string; desiredState: DesiredState } | { gearId: string; desiredState: DesiredState }, delta: 1 | -1): Promise<void> {
  const sign = sql.raw(delta === 1 ? '+' : '-');
  const selected = 'appId' in which ? sql`gears.app_id = ${which.appId}` : sql`gears.id = ${which.gearId}`;
  await sql`
    update nodes set active_gears = active_gears ${sign} (
      select count(*) from gears where ${selected} and gears.desired_state = ${which.desiredState} and gears.node_id = nodes.id)
    where id in (select gears.node_id from gears where ${selected} and gears.desired_state = ${which.desiredState})`.execute(db);
  await sql`
    update nodes set active_gears = active_gears ${sign} (
      select count(*) from gear_moves join gears on gears.id = gear_moves.gear_id
      where ${selected} and gears.desired_state = ${which.desiredState} and gear_moves.target_node_id = nodes.id)
    where id in (
      select gear_moves.target_node_id from gear_moves join gears on gears.id = gear_moves.gear_id
      where ${selected} and gears.desired_state = ${which.desiredState})`.execute(db);
}

/** The user owning an app, as a subquery: for the gear counter of createGear and friends. */
function ownerOfApp(db: Kysely<Database>, appId: string) {
  return db
    .selectFrom('apps')
    .innerJoin('domains', 'domains.id', 'apps.domain_id')
    .select('domains.owner_id')
    .where('apps.id', '=', appId);
}

function requirePositiveInteger(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 1) throw new InputError(`${field} must be a positive integer, not ${value}`, field);
}

/** Maps a constraint violation to the caller's domain error; any other error passes through. */
function translateConstraint(error: unknown, errors: { unique?: () => Error; foreignKey?: () => Error }): unknown {
  const violation = constraintViolation(error);
  if (violation === 'unique' && errors.unique) return withCause(errors.unique(), error);
  if (violation === 'foreign-key' && errors.foreignKey) return withCause(errors.foreignKey(), error);
  return error;
}

function withCause(error: Error, cause: unknown): Error {
  // Keep the driver's error for logs without changing the domain error's message.
  Object.defineProperty(error, 'cause', { value: cause, enumerable: false, configurable: true, writable: true });
  return error;
}

function parseJsonObject(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function toUser(row: Selectable<UsersTable>): User {
  return { id: row.id, login: row.login, role: row.role, maxGears: row.max_gears, createdAt: row.created_at };
}

function toToken(row: Selectable<ApiTokensTable>): ApiToken {
  return { id: row.id, userId: row.user_id, name: row.name, createdAt: row.created_at, expiresAt: row.expires_at };
}

function toDomain(row: Selectable<DomainsTable>): Domain {
  return { id: row.id, name: row.name, ownerId: row.owner_id, createdAt: row.created_at };
}

function toApp(row: Selectable<AppsTable>): App {
  return {
    id: row.id,
    name: row.name,
    domainId: row.domain_id,
    cartridge: row.cartridge,
    gearProfile: row.gear_profile,
    scaleMin: row.scale_min,
    scaleMax: row.scale_max,
    desiredState: row.desired_state,
    restartGeneration: row.restart_generation,
    sourceId: row.source_id,
    sourceVersion: row.source_version,
    createdAt: row.created_at,
  };
}

function toSource(row: Omit<Selectable<AppSourcesTable>, 'archive'>): AppSource {
  return { id: row.id, ownerId: row.owner_id, size: row.size, sha256: row.sha256, createdAt: row.created_at };
}

function toGearMove(row: Selectable<GearMovesTable>): GearMove {
  return {
    gearId: row.gear_id,
    appId: row.app_id,
    operationId: row.operation_id,
    sourceNodeId: row.source_node_id,
    targetNodeId: row.target_node_id,
    targetDistrictId: row.target_district_id,
    targetUid: row.target_uid,
    token: row.token,
    phase: row.phase,
    routePhase: row.route_phase,
    targetState: row.target_state,
    targetEndpoint: row.target_endpoint,
    pauseMs: row.pause_ms,
    error: row.error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Gives a UID back to its district's pool (and its counter). */
async function freeUid(db: Kysely<Database>, districtId: string, uid: number): Promise<void> {
  await db.insertInto('district_uids').values({ district_id: districtId, uid }).execute();
  await db.updateTable('districts').set((eb) => ({ available_uids: eb('available_uids', '+', 1) })).where('id', '=', districtId).execute();
}

function toGear(row: Selectable<GearsTable>): Gear {
  return {
    id: row.id,
    appId: row.app_id,
    nodeId: row.node_id,
    districtId: row.district_id,
    uid: row.uid,
    desiredState: row.desired_state,
    observedState: row.observed_state,
    endpoint: row.endpoint,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toDistrict(row: Selectable<DistrictsTable>): District {
  return {
    id: row.id,
    name: row.name,
    gearProfile: row.gear_profile,
    firstUid: row.first_uid,
    maxCapacity: row.max_capacity,
    availableUids: row.available_uids,
    createdAt: row.created_at,
  };
}

function toNode(row: Selectable<NodesTable>): Node {
  return {
    id: row.id,
    name: row.name,
    gearProfile: row.gear_profile,
    districtId: row.district_id,
    state: row.state,
    stateBeforeLost: row.state_before_lost,
    maxActiveGears: row.max_active_gears,
    activeGears: row.active_gears,
    reportedGears: { started: row.gears_started, idle: row.gears_idle, stopped: row.gears_stopped, unknown: row.gears_unknown },
    activeUsagePct: row.active_usage_pct,
    endpoint: row.endpoint,
    scaleEventId: row.scale_event_id,
    lastHeartbeatAt: row.last_heartbeat_at,
    createdAt: row.created_at,
  };
}

function toOperation(row: Selectable<OperationsTable>): Operation {
  return {
    id: row.id,
    kind: row.kind,
    subject: row.subject,
    phase: row.phase,
    status: row.status,
    data: parseJsonObject(row.data),
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toEvent(row: Selectable<EventsTable>): PlatformEvent {
  return {
    id: row.id,
    time: row.time,
    kind: row.kind,
    severity: row.severity,
    subject: row.subject,
    message: row.message,
    userId: row.user_id,
    data: parseJsonObject(row.data),
  };
}

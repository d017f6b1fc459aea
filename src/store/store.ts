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
import type { PlacementNode } from '../core/placement.ts';
import type { PoolMemory } from '../core/scale-plan.ts';

/**
 * The one query layer over both backends (the embedded SQLite default and PostgreSQL).
 *
 * Conventions every method keeps:
 * - A unique-name clash throws `ConflictError` (code `<kind>_exists`) naming the field.
 * - `get*` returns `undefined` when the row is absent; `require*`-style checks are the caller's.
 * - Methods that change or delete one named row (`set*`, `delete*`, `updateOperation`,
 *   `recordHeartbeat`) throw NotFoundError when it is absent (`deleteToken` returns false).
 * - Methods that change several rows are atomic by themselves; callers that need several
 *   methods to be atomic together use `transaction()`.
 * - Times are epoch milliseconds supplied by the caller where they matter (`now`), so tests
 *   can control them.
 */
export interface Store {
  /** 'sqlite' or 'postgres'. */
  readonly dialect: StoreDialect;

  /**
   * Runs `work` in one transaction with a Store bound to it. On PostgreSQL, concurrent
   * transactions that place gears of the same profile are serialised (advisory lock taken by
   * `lockPlacement`), so two brokers cannot over-fill a node.
   *
   * Inside `work`, use `tx` only: on SQLite the outer store waits for this very transaction to
   * end (one connection), so calling it from `work` never returns. `tx.transaction()` reuses the
   * transaction (no nested BEGIN): its work commits or rolls back with the outer one.
   * SQLite transactions begin IMMEDIATE: they take the write lock at once.
   */
  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T>;
  /**
   * Serialises placement for a profile until the end of the enclosing transaction
   * (`pg_advisory_xact_lock` on PostgreSQL; on SQLite write transactions are serial anyway).
   * Throws (code `lock_outside_transaction`) when called outside `transaction()`, where
   * PostgreSQL would release the lock at once.
   */
  lockPlacement(gearProfile: string): Promise<void>;

  close(): Promise<void>;

  // users and tokens
  createUser(input: { login: string; role: Role; maxGears: number; now: number }): Promise<User>;
  getUser(id: string): Promise<User | undefined>;
  getUserByLogin(login: string): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
  /**
   * Deletes the user, its tokens and its uploaded sources; refuses (ConflictError
   * `user_has_domains`) while it owns domains, and (`user_sources_in_use`) while another user's
   * app runs one of its sources.
   */
  deleteUser(id: string): Promise<void>;
  /** `tokenHash` is the SHA-256 of the token in hex; the token itself is never stored. */
  createToken(input: { userId: string; name: string; tokenHash: string; expiresAt: number | null; now: number }): Promise<ApiToken>;
  /** The token (if unexpired at `now`) and its user. */
  findUserByTokenHash(tokenHash: string, now: number): Promise<{ user: User; token: ApiToken } | undefined>;
  listTokens(userId: string): Promise<ApiToken[]>;
  deleteToken(userId: string, tokenId: string): Promise<boolean>;

  // domains
  createDomain(input: { name: string; ownerId: string; now: number }): Promise<Domain>;
  getDomainByName(name: string): Promise<Domain | undefined>;
  /** All domains, or those of one owner. */
  listDomains(ownerId?: string): Promise<Domain[]>;
  /** Refuses (ConflictError `domain_has_apps`) while the domain has apps. */
  deleteDomain(id: string): Promise<void>;

  // app sources
  /** Stores an uploaded archive (already checked by the caller) and returns it without the bytes. */
  createSource(input: { ownerId: string; archive: Buffer; sha256: string; now: number }): Promise<AppSource>;
  /** The source with its archive, or undefined. */
  getSource(id: string): Promise<(AppSource & { readonly archive: Buffer }) | undefined>;
  /**
   * Sources without their archives (cheap: for views), those with the given ids and/or of one
   * owner; oldest first. An empty `ids` means none.
   */
  listSources(filter?: { ids?: readonly string[]; ownerId?: string }): Promise<AppSource[]>;

  // apps and gears
  /**
   * With `sourceId`, the app starts at sourceVersion 1 (NotFoundError `source_not_found`, field
   * `sourceId`, when that source does not exist); without, at 0 (the built-in app).
   */
  createApp(input: Omit<App, 'id' | 'createdAt' | 'restartGeneration' | 'sourceId' | 'sourceVersion'> & { sourceId?: string | null; now: number }): Promise<App>;
  getApp(domainId: string, name: string): Promise<App | undefined>;
  getAppById(id: string): Promise<App | undefined>;
  /** All apps, or those of one domain. */
  listApps(filter?: { domainId?: string; ownerId?: string }): Promise<App[]>;
  /** Sets the app's desired state and that of all its gears (one transaction). */
  setAppDesiredState(appId: string, state: DesiredState): Promise<void>;
  /**
   * Points the app at `sourceId` and increments its sourceVersion (even when the id is the same:
   * a deploy is a deploy); returns the new version. NotFoundError when the app or the source
   * does not exist.
   */
  setAppSource(appId: string, sourceId: string): Promise<number>;
  /** Increments the app's restartGeneration and returns the new value. */
  bumpAppRestartGeneration(appId: string): Promise<number>;
  setAppScale(appId: string, scaleMin: number, scaleMax: number): Promise<void>;
  /** Deletes the app and its gears and gives their UIDs back to their districts. */
  deleteApp(appId: string): Promise<void>;
  /** Count of gears of all apps in all domains of a user (for its max_gears limit). */
  countUserGears(userId: string): Promise<number>;

  /**
   * The gear starts with observedState `new`. Throws ConflictError `uid_in_use` (field `uid`)
   * when another gear of the district holds the UID, `gear_reference_missing` when the app,
   * node or district no longer exists.
   */
  createGear(input: { appId: string; nodeId: string; districtId: string; uid: number; desiredState: DesiredState; now: number }): Promise<Gear>;
  getGear(id: string): Promise<Gear | undefined>;
  /** Gears, oldest first; `nodeIds` / `appIds`: only gears on those nodes / of those apps (an empty list: none). */
  listGears(filter?: { appId?: string; nodeId?: string; nodeIds?: readonly string[]; appIds?: readonly string[] }): Promise<Gear[]>;
  /** Deletes the gear and gives its UID back to its district. */
  deleteGear(id: string): Promise<void>;
  /** What a node agent observed. Returns false if the gear is not on that node (any more). */
  reportGear(input: { gearId: string; nodeId: string; observedState: GearObservedState; endpoint: string | null; now: number }): Promise<boolean>;

  /**
   * Takes the lowest free UID of the district and returns it. Throws ExhaustedError
   * `district_uids_exhausted` naming the district (context `district`, `profile`) when none is
   * left, NotFoundError when the district does not exist.
   */
  allocateUid(districtId: string): Promise<number>;

  // districts
  /** Creates the district with UIDs firstUid … firstUid+maxCapacity-1 all free. */
  createDistrict(input: { name: string; gearProfile: string; firstUid: number; maxCapacity: number; now: number }): Promise<District>;
  getDistrictByName(name: string): Promise<District | undefined>;
  getDistrict(id: string): Promise<District | undefined>;
  listDistricts(): Promise<District[]>;
  /** Adds `count` UIDs after the current end of the pool. */
  addDistrictCapacity(districtId: string, count: number): Promise<District>;
  /**
   * Removes `count` free UIDs from the end of the pool. Throws ConflictError
   * `capacity_in_use` when fewer than `count` free UIDs are at the end (UIDs in use are never taken).
   */
  removeDistrictCapacity(districtId: string, count: number): Promise<District>;
  /**
   * Refuses (ConflictError `district_has_nodes`) while nodes are in it, and
   * (`district_has_gears`) while gears hold its UIDs (a node can leave with its gears).
   */
  deleteDistrict(id: string): Promise<void>;

  // nodes
  /**
   * Inserts a node, or, when one of that name exists, updates its registration (endpoint,
   * facts, credential) and keeps its id, district and gears: a restarted agent is the same node.
   * A new node is `active` (outside any district until `setNodeDistrict`). Re-registering
   * counts as a heartbeat: `lost` returns to `stateBeforeLost`, `provisioning` and `gone` become
   * `active`, any other state is kept (a deactivation survives an agent restart). The gear
   * profile of an existing node is kept; a null `scaleEventId` keeps the one already known.
   */
  upsertNodeRegistration(input: {
    name: string;
    gearProfile: string;
    maxActiveGears: number;
    endpoint: string | null;
    scaleEventId: string | null;
    credentialHash: string;
    now: number;
  }): Promise<Node>;
  getNode(id: string): Promise<Node | undefined>;
  getNodeByName(name: string): Promise<Node | undefined>;
  findNodeByCredentialHash(credentialHash: string): Promise<Node | undefined>;
  /**
   * What placement reads on every create: each node of `gearProfile` except gone ones, with only
   * the fields placement uses, ordered by name. Cheaper than listNodes at thousands of nodes.
   */
  listPlacementNodes(gearProfile: string): Promise<PlacementNode[]>;
  /** `ids`: only these nodes (a list bound as parameters: keep it to hundreds). */
  listNodes(filter?: { ids?: readonly string[]; districtId?: string; gearProfile?: string; states?: NodeState[] }): Promise<Node[]>;
  setNodeDistrict(nodeId: string, districtId: string | null): Promise<void>;
  /** Sets the lifecycle state. `stateBeforeLost` is written as given (null clears it). */
  setNodeState(nodeId: string, state: NodeState, stateBeforeLost?: NodeState | null): Promise<void>;
  /** Writes the facts and the time; a `lost` node returns to `stateBeforeLost` (model.ts). */
  recordHeartbeat(input: { nodeId: string; maxActiveGears: number; reportedGears: GearCounts; activeUsagePct: number; now: number }): Promise<Node>;
  /**
   * Marks `lost` every node in active/deactivated/draining whose last heartbeat is older than
   * `before` (remembering its state) and returns the nodes it marked.
   */
  markLostNodes(before: number): Promise<Node[]>;
  /**
   * Gears placed on each node whose desired state is `started`, plus such gears moving to it
   * (a move reserves its room on the target from the start), keyed by node id. With
   * `nodeIds`, every one of them has an entry (0 included); without, only nodes with such gears.
   */
  countActiveGearsByNode(nodeIds?: string[]): Promise<Map<string, number>>;
  /**
   * Per node of `nodeIds` (every one has an entry, 0 included): all its gears, stopped ones
   * included (the active ones are on the node row: Node.activeGears). One grouped query: what
   * the autoscaler reads of every node each pass instead of the gears themselves.
   */
  countGearsByNode(nodeIds: readonly string[]): Promise<Map<string, number>>;
  countGearsOnNode(nodeId: string): Promise<number>;

  // what watchers read (one joined query each: they are re-read on every change)
  /**
   * The gears a node should run, with what its agent needs of their app; oldest first. Gears
   * moving to the node are included from the move's `copying` phase on (with their source's UID:
   * the caller applies the move's target UID).
   */
  listNodeAssignments(nodeId: string): Promise<NodeAssignment[]>;
  /** Every app with its domain and its gears observed `started` (with endpoints); by domain, app. */
  listRouteEntries(): Promise<RouteEntry[]>;

  // gear moves (docs/moves.md)
  /** Throws ConflictError `gear_moving` when the gear is already being moved. */
  createGearMove(input: Omit<GearMove, 'routePhase' | 'targetState' | 'targetEndpoint' | 'pauseMs' | 'error' | 'createdAt' | 'updatedAt'> & { now: number }): Promise<GearMove>;
  getGearMove(gearId: string): Promise<GearMove | undefined>;
  /** Moves touching a node, as source or target (or all moves). */
  listGearMoves(filter?: { nodeId?: string }): Promise<GearMove[]>;
  updateGearMove(gearId: string, update: Partial<Pick<GearMove, 'phase' | 'routePhase' | 'targetState' | 'targetEndpoint' | 'pauseMs' | 'error'>> & { now: number }): Promise<GearMove>;
  /** Ends a move without moving the gear (rollback); a changed district gets its reserved UID back. */
  deleteGearMove(gearId: string): Promise<void>;
  /**
   * Ends a move by moving the gear: node, district and UID become the target's, the source
   * district gets the old UID back when they differ, and the move row goes — one transaction.
   */
  completeGearMove(gearId: string, now: number): Promise<Gear>;

  /** A router polled the route table; `served`: it was given the current table (200 or 304). */
  recordRouterPoll(input: { name: string; served: boolean; now: number }): Promise<void>;
  /** Routers seen since `since`, with when each was last given the current table. */
  listRouters(since: number): Promise<{ name: string; lastSeenAt: number; lastServedAt: number }[]>;

  // operations journal
  createOperation(input: { kind: string; subject: string; phase: string; data: Record<string, unknown>; now: number }): Promise<Operation>;
  /** Writes the next phase (and merges `data`) before the caller carries it out. */
  updateOperation(id: string, update: { phase?: string; status?: OperationStatus; data?: Record<string, unknown>; error?: string | null; now: number }): Promise<Operation>;
  getOperation(id: string): Promise<Operation | undefined>;
  listOperations(filter?: { status?: OperationStatus[]; kind?: string }): Promise<Operation[]>;

  // the autoscaler (0005)
  /** The pool's memory as last saved (EMPTY_POOL_MEMORY for a pool never seen), pause and refusals included. */
  getPoolMemory(pool: string): Promise<PoolMemory>;
  /** Writes what the planner remembers; leaves `paused` and `unplaced` as they are (their own writers). */
  savePoolMemory(pool: string, memory: PoolMemory, now: number): Promise<void>;
  /** Pauses (with who and when) or resumes (null) the pool's autoscaling. */
  setPoolPaused(pool: string, paused: { by: string; at: number } | null, now: number): Promise<void>;
  /** A placement of `gears` gears found no room (in `district`, when one was asked for). */
  recordUnplaced(pool: string, input: { gears: number; district: string | null; now: number }): Promise<void>;
  /**
   * Takes or renews the lease `name` for `holder` until now + ttlMs; true when `holder` has it.
   * Taken only when free, expired, or already the holder's: two brokers never both get true.
   */
  acquireLease(input: { name: string; holder: string; ttlMs: number; now: number }): Promise<boolean>;
  /** Gives the lease up if `holder` has it, so another broker takes over at once. */
  releaseLease(name: string, holder: string): Promise<void>;

  // events
  appendEvent(input: { kind: string; severity: EventSeverity; subject: string; message: string; userId: string | null; data?: Record<string, unknown>; now: number }): Promise<PlatformEvent>;
  /**
   * Events with id > `after`, oldest first, at most `limit`: the first `limit` of them, or with
   * `newest` the last `limit`. `userId` restricts to that user's, `kind` to that kind and the
   * kinds below it (`node` → `node.lost`, `node.registered`, …).
   */
  listEvents(filter: { after?: number; limit: number; userId?: string; kind?: string; newest?: boolean }): Promise<PlatformEvent[]>;
}

export type StoreDialect = 'sqlite' | 'postgres';

export interface NodeAssignment {
  readonly gearId: string;
  readonly uid: number;
  readonly appId: string;
  readonly appName: string;
  readonly domainName: string;
  readonly cartridge: string;
  readonly gearProfile: string;
  readonly desiredState: DesiredState;
  readonly restartGeneration: number;
  /** The app's source version to run; null: none uploaded (the cartridge's built-in app). */
  readonly sourceVersion: number | null;
}

export interface RouteEntry {
  readonly appId: string;
  readonly appName: string;
  readonly domainName: string;
  readonly desiredState: DesiredState;
  /** Each gear observed started, with its host:port; sorted by endpoint. */
  readonly gears: readonly { readonly gearId: string; readonly endpoint: string }[];
}

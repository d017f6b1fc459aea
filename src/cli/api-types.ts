/**
 * The broker's REST API (/api/v1) as the CLI sees it on the wire: times are ISO 8601 strings,
 * lists are `{ items }`. Written from the API contract; the broker owns the contract, these
 * types only say what the CLI reads from it.
 */

export interface ListResponse<Item> {
  readonly items: Item[];
}

export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly field?: string };
}

export interface ApiHealth {
  readonly status: string;
  readonly store: string;
  readonly version: string;
}

export interface ApiCurrentUser {
  readonly id: string;
  readonly login: string;
  readonly role: 'admin' | 'user';
  readonly maxGears: number;
  readonly gearsUsed: number;
}

export interface ApiUser {
  readonly id: string;
  readonly login: string;
  readonly role: 'admin' | 'user';
  readonly maxGears: number;
  readonly createdAt: string;
}

export interface ApiCreatedUser {
  readonly user: ApiUser;
  readonly token: string;
}

export interface ApiTokenSummary {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
}

export interface ApiCreatedToken {
  readonly id: string;
  readonly name: string;
  readonly token: string;
  readonly expiresAt: string | null;
}

export interface ApiDomain {
  readonly id: string;
  readonly name: string;
  readonly owner: string;
  readonly createdAt: string;
}

export interface ApiGear {
  readonly id: string;
  readonly uid: number;
  readonly node: string;
  readonly district: string;
  readonly desiredState: string;
  readonly observedState: string;
  readonly endpoint: string | null;
  readonly createdAt: string;
}

export interface ApiApp {
  readonly id: string;
  readonly name: string;
  readonly domain: string;
  readonly url: string;
  readonly cartridge: string;
  readonly gearProfile: string;
  readonly scale: { readonly min: number; readonly max: number };
  readonly desiredState: 'started' | 'stopped';
  readonly restartGeneration: number;
  /** The uploaded source the app runs (version counts deploys); null: the cartridge's built-in app. */
  readonly source?: { readonly id: string; readonly version: number; readonly size: number } | null;
  readonly createdAt: string;
  readonly gears: ApiGear[];
}

/** An uploaded app source (POST /sources). */
export interface ApiSource {
  readonly id: string;
  readonly size: number;
  readonly sha256: string;
}

export interface ApiDistrictNode {
  readonly name: string;
  readonly active: boolean;
  readonly state: string;
}

export interface ApiDistrict {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  readonly firstUid: number;
  readonly maxCapacity: number;
  readonly availableUids: number;
  readonly createdAt: string;
  readonly nodes: ApiDistrictNode[];
}

export interface ApiNode {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  readonly district: string | null;
  readonly state: string;
  readonly maxActiveGears: number;
  readonly placedActiveGears: number;
  readonly gears: { readonly started: number; readonly idle: number; readonly stopped: number; readonly unknown: number };
  readonly activeUsagePct: number;
  readonly endpoint: string | null;
  readonly scaleEventId: string | null;
  readonly lastHeartbeatAt: string | null;
  readonly createdAt: string;
}

export interface ApiRouter {
  readonly name: string;
  readonly lastSeenAt: string;
  readonly lastServedAt: string;
  readonly countedByMoves: boolean;
}

export interface ApiEvent {
  readonly id: number;
  readonly time: string;
  readonly kind: string;
  readonly severity: string;
  readonly subject: string;
  readonly message: string;
  readonly data: Record<string, unknown>;
}

export interface CreateAppRequest {
  name: string;
  cartridge: string;
  gears?: number;
  scale?: { min: number; max: number };
  gearProfile?: string;
  /** An uploaded source's id (POST /sources). */
  source?: string;
}

export type ScaleAppRequest = { gears: number } | { min: number; max: number };

export interface CreateDistrictRequest {
  name: string;
  gearProfile?: string;
  firstUid?: number;
  maxCapacity?: number;
}

export interface CreateUserRequest {
  login: string;
  role?: 'admin' | 'user';
  maxGears?: number;
}

export interface ListEventsQuery {
  after?: number;
  limit?: number;
  kind?: string;
  /** The latest `limit` events rather than the first ones after `after`. */
  newest?: boolean;
}

/** One gear move (docs/moves.md). `pauseMs`: how long the source gear was paused for the final copy. */
export interface ApiMove {
  readonly id: string;
  readonly gear: string;
  readonly app: string;
  readonly domain: string;
  readonly from: string;
  readonly to: string;
  readonly phase: string;
  readonly status: 'running' | 'succeeded' | 'failed' | 'rolled-back';
  readonly pauseMs: number | null;
  readonly error: string | null;
  readonly startedAt: string;
  readonly updatedAt: string;
}

/** The newest drain of a node (docs/moves.md). `reason`: the planner's sentence, or why it failed. */
export interface ApiDrain {
  readonly id: string;
  readonly node: string;
  readonly status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  readonly parallel: number;
  readonly deadline: string;
  readonly total: number;
  readonly moved: number;
  readonly failed: number;
  readonly inFlight: number;
  /** Why it failed or was cancelled (the contract also allows the planner's sentence here). */
  readonly reason: string | null;
  /** The planner's sentence ("move 20 gears of node n1 to …"), where the broker sends it. */
  readonly plan?: string;
  readonly moves: ApiMove[];
  readonly startedAt: string;
  readonly updatedAt: string;
}

/** A gear of `POST /moves` that got no move (the others still run). */
export interface ApiRefusedMove {
  readonly gear: string;
  readonly code: string;
  readonly message: string;
}

export interface CreateMovesResponse {
  readonly items: ApiMove[];
  readonly refused?: ApiRefusedMove[];
}

export interface CreateMovesRequest {
  gears: string[];
  to?: string;
  changeDistrict?: boolean;
}

export interface DrainNodeRequest {
  parallel?: number;
  deadlineSeconds?: number;
}

/** GET /autoscaler/plan items, and each pool's `plan` in the status. */
export interface ApiScalePlan {
  readonly pool: string;
  readonly at: string;
  readonly kind: 'scale-up' | 'scale-down' | 'cancel-drain' | 'wait' | 'noop';
  readonly reason: string;
  readonly code?: string;
  readonly until?: string | null;
  readonly exhausted?: string | null;
  readonly count?: number;
  readonly district?: string;
  readonly node?: string;
  readonly usage: { readonly activeGears: number; readonly capacity: number; readonly pct: number; readonly schedulableNodes: number; readonly provisioning: number; readonly unplacedGears: number };
  readonly planMs: number;
}

export interface ApiAutoscalerPool {
  readonly name: string;
  readonly profile: string;
  readonly district: string | null;
  readonly min: number;
  readonly max: number;
  readonly usage: ApiScalePlan['usage'];
  readonly nodes: Readonly<Record<string, number>>;
  readonly paused: { readonly by: string; readonly at: string } | null;
  readonly exhausted: { readonly reason: string; readonly since: string } | null;
  readonly failures: number;
  readonly lastFailure: string | null;
  readonly lastScaleUpAt: string | null;
  readonly lastScaleDownAt: string | null;
  readonly plan: ApiScalePlan;
  readonly operations: readonly { readonly id: string; readonly kind: string; readonly phase: string; readonly node?: string; readonly count?: number; readonly startedAt: string }[];
}

/**
 * Why a pool cannot grow, or null: as the pool recorded it (since a pass found the cloud full),
 * or as this very plan finds it (the headroom it just read). What the CLI and the console show
 * as EXHAUSTED.
 */
export function poolExhaustion(pool: Pick<ApiAutoscalerPool, 'exhausted' | 'plan'>): string | null {
  return pool.exhausted !== null ? pool.exhausted.reason : pool.plan.exhausted || null;
}

/** GET /autoscaler */
export interface ApiAutoscalerStatus {
  readonly provider: string;
  readonly intervalSeconds: number;
  readonly upThresholdPct: number;
  readonly downMarginPct: number;
  readonly leader: boolean;
  readonly pools: readonly ApiAutoscalerPool[];
}

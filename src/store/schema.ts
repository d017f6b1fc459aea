import type { Generated } from 'kysely';
import type { DesiredState, MoveRoutePhase, MoveTargetState, EventSeverity, GearObservedState, NodeState, OperationStatus, Role } from '../core/model.ts';

/**
 * The tables as Kysely sees them. Column names are snake_case in the database and mapped to
 * the camelCase model by KyselyStore; times are epoch milliseconds (bigint on PostgreSQL,
 * read back as numbers by the pool's int8 parser; integer on SQLite).
 */
export interface Database {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  domains: DomainsTable;
  apps: AppsTable;
  app_sources: AppSourcesTable;
  gears: GearsTable;
  districts: DistrictsTable;
  district_uids: DistrictUidsTable;
  nodes: NodesTable;
  operations: OperationsTable;
  events: EventsTable;
  gear_moves: GearMovesTable;
  routers: RoutersTable;
  scale_pools: ScalePoolsTable;
  leases: LeasesTable;
}

export interface UsersTable {
  id: string;
  login: string;
  role: Role;
  max_gears: number;
  /** Gears of all apps in the user's domains; kept by KyselyStore with every gear change (0002). */
  gear_count: number;
  created_at: number;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  /** SHA-256 of the token, hex; the token itself is never stored. */
  token_hash: string;
  created_at: number;
  expires_at: number | null;
}

export interface DomainsTable {
  id: string;
  name: string;
  owner_id: string;
  created_at: number;
}

export interface AppsTable {
  id: string;
  domain_id: string;
  name: string;
  cartridge: string;
  gear_profile: string;
  scale_min: number;
  scale_max: number;
  desired_state: DesiredState;
  restart_generation: number;
  /** The uploaded source (0003); null: the cartridge's built-in app. */
  source_id: string | null;
  /** Deploys so far (0003); 0: none. Defaults to 0, so rows written without it stay valid. */
  source_version: Generated<number>;
  created_at: number;
}

/** Uploaded app sources (0003): the gzipped tar itself, as bytes. */
export interface AppSourcesTable {
  id: string;
  owner_id: string;
  size: number;
  sha256: string;
  archive: Buffer;
  created_at: number;
}

export interface GearsTable {
  id: string;
  app_id: string;
  node_id: string;
  district_id: string;
  uid: number;
  desired_state: DesiredState;
  observed_state: GearObservedState;
  endpoint: string | null;
  created_at: number;
  updated_at: number;
}

export interface DistrictsTable {
  id: string;
  name: string;
  gear_profile: string;
  first_uid: number;
  max_capacity: number;
  /** Rows of this district in district_uids; kept by KyselyStore with every pool change (0002). */
  available_uids: number;
  created_at: number;
}

/** The free UIDs of each district: a row is a UID no gear holds. */
export interface DistrictUidsTable {
  district_id: string;
  uid: number;
}

export interface NodesTable {
  id: string;
  name: string;
  gear_profile: string;
  district_id: string | null;
  state: NodeState;
  state_before_lost: NodeState | null;
  max_active_gears: number;
  /** Gears here whose desired state is started, plus those moving in (migration 0006). */
  active_gears: number;
  gears_started: number;
  gears_idle: number;
  gears_stopped: number;
  gears_unknown: number;
  active_usage_pct: number;
  endpoint: string | null;
  scale_event_id: string | null;
  credential_hash: string;
  last_heartbeat_at: number | null;
  created_at: number;
}

export interface OperationsTable {
  id: string;
  kind: string;
  subject: string;
  phase: string;
  status: OperationStatus;
  /** JSON object, as text: the same on both dialects. */
  data: string;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface EventsTable {
  /** Auto-increment: monotonic, so `events --follow` can resume after the last id it saw. */
  id: Generated<number>;
  time: number;
  kind: string;
  severity: EventSeverity;
  subject: string;
  message: string;
  user_id: string | null;
  /** JSON object, as text. */
  data: string;
}

/** A gear being moved (0004); see docs/moves.md. */
export interface GearMovesTable {
  gear_id: string;
  app_id: string;
  operation_id: string;
  source_node_id: string;
  target_node_id: string;
  target_district_id: string;
  target_uid: number;
  token: string;
  phase: string;
  route_phase: MoveRoutePhase;
  target_state: MoveTargetState;
  target_endpoint: string | null;
  pause_ms: number | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface RoutersTable {
  name: string;
  last_seen_at: number;
  last_served_at: number;
}

/** The autoscaler's memory of a pool (0005). */
export interface ScalePoolsTable {
  name: string;
  /** JSON: the planner's PoolMemory without `paused` and `unplaced` (those are the columns below). */
  memory: Generated<string>;
  paused_by: string | null;
  paused_at: number | null;
  unplaced_gears: Generated<number>;
  unplaced_district: string | null;
  unplaced_at: number | null;
  updated_at: number;
}

/** Controllers that run on one broker only take a lease (0005). */
export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

/**
 * The model shared by the broker, the store, the planners and the CLI. Plain data, no I/O.
 * Times are epoch milliseconds; the REST edge renders them as ISO 8601 strings.
 */

export type Role = 'admin' | 'user';

export interface User {
  readonly id: string;
  readonly login: string;
  readonly role: Role;
  /** Most gears this user may own over all apps (OpenShift's DEFAULT_MAX_GEARS). */
  readonly maxGears: number;
  readonly createdAt: number;
}

export interface ApiToken {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly createdAt: number;
  /** null: never expires. */
  readonly expiresAt: number | null;
}

export interface Domain {
  readonly id: string;
  /** OpenShift's namespace: lower-case alphanumerics, at most 32 characters. */
  readonly name: string;
  readonly ownerId: string;
  readonly createdAt: number;
}

/** What the app (and so each of its gears) should be doing. */
export type DesiredState = 'started' | 'stopped';

export interface App {
  readonly id: string;
  readonly name: string;
  readonly domainId: string;
  readonly cartridge: string;
  readonly gearProfile: string;
  readonly scaleMin: number;
  readonly scaleMax: number;
  readonly desiredState: DesiredState;
  /** Bumped by `app restart`; a node agent restarts a gear whose generation it has not run yet. */
  readonly restartGeneration: number;
  /** The uploaded source the app runs; null: the cartridge's built-in app. */
  readonly sourceId: string | null;
  /**
   * Bumped by every deploy (0: never deployed). Node agents compare it with the version they
   * extracted, so a deploy is seen even when it names the same source again.
   */
  readonly sourceVersion: number;
  readonly createdAt: number;
}

/** An uploaded app source: a gzipped tar of the app's directory, checked when it was uploaded. */
export interface AppSource {
  readonly id: string;
  readonly ownerId: string;
  /** Bytes of the compressed archive. */
  readonly size: number;
  /** SHA-256 of the compressed archive, hex. */
  readonly sha256: string;
  readonly createdAt: number;
}

/**
 * What a node agent last reported for a gear. `idle` and `stopped` gears are not active
 * (OpenShift v2); `unknown` means the agent could not tell; `new` means not reported yet.
 */
export type GearObservedState = 'new' | 'started' | 'idle' | 'stopped' | 'unknown' | 'failed';

export interface Gear {
  readonly id: string;
  readonly appId: string;
  readonly nodeId: string;
  readonly districtId: string;
  /** Taken from the district's pool at creation; kept for the gear's life, moves included. */
  readonly uid: number;
  readonly desiredState: DesiredState;
  readonly observedState: GearObservedState;
  /** host:port where the gear answers, as reported by its node agent; null until it does. */
  readonly endpoint: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface District {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  readonly firstUid: number;
  /** Size of the UID pool (OpenShift's max_capacity); add-capacity/remove-capacity change it. */
  readonly maxCapacity: number;
  /** UIDs not held by any gear. */
  readonly availableUids: number;
  readonly createdAt: number;
}

/**
 * A node host's lifecycle.
 *
 *   provisioning ──register──▶ active ◀──activate── deactivated
 *                                │ ▲                    ▲
 *                     deactivate │ └─────cancel─────┐   │
 *                                ▼                  │   │
 *                           deactivated ──drain──▶ draining ──empty──▶ deprovisioning ──▶ gone
 *
 *   any of active/deactivated/draining ──no heartbeat for NODE_LOST_AFTER──▶ lost
 *   lost ──heartbeat──▶ the state it had before
 */
export type NodeState = 'provisioning' | 'active' | 'deactivated' | 'draining' | 'deprovisioning' | 'gone' | 'lost';

export const NODE_STATES: readonly NodeState[] = ['provisioning', 'active', 'deactivated', 'draining', 'deprovisioning', 'gone', 'lost'];

/** Gear counts by observed state, as a node agent reports them (OpenShift v2 node facts). */
export interface GearCounts {
  readonly started: number;
  readonly idle: number;
  readonly stopped: number;
  readonly unknown: number;
}

export interface Node {
  readonly id: string;
  /** Host name; unique. */
  readonly name: string;
  readonly gearProfile: string;
  readonly districtId: string | null;
  readonly state: NodeState;
  /** The state to return to when a lost node heartbeats again. */
  readonly stateBeforeLost: NodeState | null;
  readonly maxActiveGears: number;
  /**
   * The broker's own count of the slots taken here: gears placed here whose desired state is
   * started, plus gears moving in (a move holds its room from the start). What placement reads.
   */
  readonly activeGears: number;
  /** Facts from the last heartbeat. */
  readonly reportedGears: GearCounts;
  /** active * 100 / max_active_gears, from the last heartbeat. */
  readonly activeUsagePct: number;
  /** Base URL of the node agent's own API (for moves, later); null before registration. */
  readonly endpoint: string | null;
  /** The scale-up request this node fulfils, when a provider started it for one. */
  readonly scaleEventId: string | null;
  readonly lastHeartbeatAt: number | null;
  readonly createdAt: number;
}

/** A gear is active when it is neither idle nor stopped (OpenShift v2). */
export function isActiveGearState(state: GearObservedState | DesiredState): boolean {
  return state !== 'idle' && state !== 'stopped';
}

/** A node receives new gears only in this state (and only when it is in a district). */
export function isSchedulable(node: Pick<Node, 'state' | 'districtId'>): boolean {
  return node.state === 'active' && node.districtId !== null;
}

export type OperationStatus = 'running' | 'succeeded' | 'failed' | 'rolled-back';

/**
 * One multi-step operation (a move, a scale-up, a scale-down). Each phase is written before it
 * is carried out, so a broker killed at any instant can resume or roll back from here.
 */
export interface Operation {
  readonly id: string;
  readonly kind: string;
  /** What it acts on, e.g. `gear:<id>` or `node:<name>`. */
  readonly subject: string;
  readonly phase: string;
  readonly status: OperationStatus;
  readonly data: Readonly<Record<string, unknown>>;
  readonly error: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Which copies of a moving gear the route table sends requests to (docs/moves.md). */
export type MoveRoutePhase = 'source' | 'both' | 'target';
/** What the target agent reported of its copy. */
export type MoveTargetState = 'pending' | 'started' | 'failed';

/** A gear being moved: reserves room on the target until the move ends (docs/moves.md). */
export interface GearMove {
  readonly gearId: string;
  readonly appId: string;
  readonly operationId: string;
  readonly sourceNodeId: string;
  readonly targetNodeId: string;
  readonly targetDistrictId: string;
  /** The gear's UID on the target: the same one unless the move changes district. */
  readonly targetUid: number;
  /** The one-time move token the target presents to the source agent. */
  readonly token: string;
  readonly phase: string;
  readonly routePhase: MoveRoutePhase;
  readonly targetState: MoveTargetState;
  readonly targetEndpoint: string | null;
  /** How long the source was paused for the final copy, as the target measured it. */
  readonly pauseMs: number | null;
  readonly error: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type EventSeverity = 'info' | 'warning' | 'error';

export interface PlatformEvent {
  /** Monotonic: `events --follow` resumes after the last id it saw. */
  readonly id: number;
  readonly time: number;
  /** Dotted kind, e.g. `app.created`, `node.lost`. */
  readonly kind: string;
  readonly severity: EventSeverity;
  /** e.g. `app:demo/hello`, `node:node-1`. */
  readonly subject: string;
  /** A sentence an operator can read. */
  readonly message: string;
  /** Owner of the subject, when it belongs to a user: users see their own events only. */
  readonly userId: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

/** OpenShift's rule for app and domain names. */
export const NAME_PATTERN = /^[a-z0-9]{1,32}$/;

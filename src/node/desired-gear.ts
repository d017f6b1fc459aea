import type { DesiredState } from '../core/model.ts';

/**
 * One gear the broker wants on this node, as `GET /api/v1/nodes/:name/gears` lists it. The
 * broker may send more fields (observedState, endpoint…); the agent keeps only these.
 */
export interface DesiredGear {
  readonly id: string;
  readonly uid: number;
  readonly app: string;
  readonly appId: string;
  readonly domain: string;
  readonly cartridge: string;
  readonly gearProfile: string;
  readonly desiredState: DesiredState;
  /** Bumped by `app restart`: a gear whose process ran an older generation is restarted. */
  readonly restartGeneration: number;
  /** The app's uploaded source; null: none, the cartridge's built-in app runs. */
  readonly sourceVersion: number | null;
  /** Set while the gear is being moved (docs/moves.md); absent on every other gear. */
  readonly move?: DesiredMove;
}

/** The phases of a move, in docs/moves.md's order. */
export const MOVE_PHASES = ['planned', 'copying', 'target-started', 'routed-both', 'routed-target', 'source-released', 'done', 'rolling-back', 'rolled-back'] as const;
export type MovePhase = (typeof MOVE_PHASES)[number];

/**
 * A move of this gear, as the broker tells the node on each end. The target is also given the
 * source agent's URL and the move token to present to it; the source is given neither.
 */
export type DesiredMove =
  | { readonly id: string; readonly role: 'source'; readonly phase: MovePhase }
  /** `source` is '' when the broker gave no usable URL: the copy then fails, saying so. */
  | { readonly id: string; readonly role: 'target'; readonly phase: MovePhase; readonly source: string; readonly token: string };

/** The phases during which the source's gear may stay paused for the final copy. */
export function holdsSourcePause(move: DesiredMove | undefined, moveId: string): boolean {
  return move !== undefined && move.id === moveId && (move.phase === 'planned' || move.phase === 'copying' || move.phase === 'target-started');
}

/** A page of the watch: the node's whole desired set and the version to resume from. */
export interface DesiredGearSet {
  /** Opaque resume token for `?since=`; null when the broker does not version the list (older brokers). */
  readonly version: string | null;
  readonly items: readonly DesiredGear[];
}

/**
 * Reads the broker's answer strictly on the fields the agent acts on, and tolerantly on the rest:
 * a gear with a malformed field is an error (acting on half a gear could delete it), an extra
 * field is ignored.
 */
export function parseDesiredGearSet(body: unknown): DesiredGearSet {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { items?: unknown }).items)) {
    throw new TypeError('desired gears: expected an object with an items array');
  }
  const raw = body as { version?: unknown; items: unknown[] };
  const version = typeof raw.version === 'string' || typeof raw.version === 'number' ? String(raw.version) : null;
  return { version, items: raw.items.map(parseDesiredGear) };
}

function parseDesiredGear(value: unknown, index: number): DesiredGear {
  const item = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const text = (key: string): string => {
    const field = item[key];
    if (typeof field !== 'string' || field.length === 0) throw new TypeError(`desired gears: items[${index}].${key} must be a non-empty string`);
    return field;
  };
  const integer = (key: string): number => {
    const field = item[key];
    if (typeof field !== 'number' || !Number.isSafeInteger(field)) throw new TypeError(`desired gears: items[${index}].${key} must be an integer`);
    return field;
  };
  const desiredState = text('desiredState');
  if (desiredState !== 'started' && desiredState !== 'stopped') throw new TypeError(`desired gears: items[${index}].desiredState must be started or stopped`);
  const id = text('id');
  // The id names a directory: refuse anything that could step out of gears/.
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new TypeError(`desired gears: items[${index}].id is not a gear id`);
  const source = item.sourceVersion;
  if (source !== undefined && source !== null && (typeof source !== 'number' || !Number.isSafeInteger(source))) {
    throw new TypeError(`desired gears: items[${index}].sourceVersion must be an integer or null`);
  }
  return {
    id,
    uid: integer('uid'),
    app: text('app'),
    appId: text('appId'),
    domain: text('domain'),
    cartridge: text('cartridge'),
    gearProfile: text('gearProfile'),
    desiredState,
    restartGeneration: integer('restartGeneration'),
    sourceVersion: typeof source === 'number' ? source : null,
    ...(item.move !== undefined && item.move !== null ? { move: parseDesiredMove(item.move, index) } : {}),
  };
}

/**
 * Strict like the gear itself: a move the agent misreads could pause a gear, or start a copy, for
 * nothing. A phase this agent does not know is an error too, rather than a guess at what it means.
 */
function parseDesiredMove(value: unknown, index: number): DesiredMove {
  const where = `desired gears: items[${index}].move`;
  if (typeof value !== 'object' || value === null) throw new TypeError(`${where} must be an object`);
  const move = value as Record<string, unknown>;
  // The id becomes a URL path segment on the source agent and a broker path: keep it plain.
  if (typeof move.id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(move.id)) throw new TypeError(`${where}.id is not a move id`);
  if (typeof move.phase !== 'string' || !(MOVE_PHASES as readonly string[]).includes(move.phase)) throw new TypeError(`${where}.phase must be one of ${MOVE_PHASES.join(', ')}`);
  const phase = move.phase as MovePhase;
  if (move.role === 'source') return { id: move.id, role: 'source', phase };
  if (move.role !== 'target') throw new TypeError(`${where}.role must be source or target`);
  if (typeof move.token !== 'string' || move.token.length === 0) throw new TypeError(`${where}.token must be a non-empty string`);
  // A source the broker could not name (its agent has no endpoint on record) is not an error of
  // the whole list: the copy fails at once, says why, and the broker rolls the move back.
  let source = '';
  try {
    const url = new URL(String(move.source));
    if (url.protocol === 'http:' || url.protocol === 'https:') source = url.href.replace(/\/+$/, '');
  } catch {
    // left empty
  }
  return { id: move.id, role: 'target', phase, source, token: move.token };
}

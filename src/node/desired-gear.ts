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
  };
}

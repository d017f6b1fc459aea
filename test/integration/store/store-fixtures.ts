/**
 * Builders for the rows most store tests need, and an assertion for geartide errors. Each
 * builder goes through the Store itself, so fixtures exercise the same code as the tests.
 */
import assert from 'node:assert/strict';
import type { ErrorContext, GeartideError } from '../../../src/core/errors.ts';
import type { App, District, Domain, Node, User } from '../../../src/core/model.ts';
import type { Store } from '../../../src/store/store.ts';

export const NOW = 1_700_000_000_000;

export interface Platform {
  user: User;
  domain: Domain;
  district: District;
  node: Node;
  app: App;
}

/** A user with a domain and an app, and a node in a district of the app's profile. */
export async function seedPlatform(store: Store, options: { uidCapacity?: number; firstUid?: number } = {}): Promise<Platform> {
  const user = await store.createUser({ login: 'alice', role: 'user', maxGears: 10, now: NOW });
  const domain = await store.createDomain({ name: 'demo', ownerId: user.id, now: NOW });
  const district = await store.createDistrict({ name: 'small-1', gearProfile: 'small', firstUid: options.firstUid ?? 1000, maxCapacity: options.uidCapacity ?? 100, now: NOW });
  const registered = await store.upsertNodeRegistration({
    name: 'node-1',
    gearProfile: 'small',
    maxActiveGears: 50,
    endpoint: 'http://127.0.0.1:7001',
    scaleEventId: null,
    credentialHash: 'cred-node-1',
    now: NOW,
  });
  await store.setNodeDistrict(registered.id, district.id);
  const node = (await store.getNode(registered.id))!;
  const app = await createApp(store, domain.id, 'hello');
  return { user, domain, district, node, app };
}

export function createApp(store: Store, domainId: string, name: string): Promise<App> {
  return store.createApp({ name, domainId, cartridge: 'nodejs-20', gearProfile: 'small', scaleMin: 1, scaleMax: 3, desiredState: 'started', now: NOW });
}

/** Places one gear the way the broker does: a UID from the district, then the gear row. */
export async function placeGear(store: Store, platform: Pick<Platform, 'app' | 'node' | 'district'>, desiredState: 'started' | 'stopped' = 'started') {
  const uid = await store.allocateUid(platform.district.id);
  return store.createGear({ appId: platform.app.id, nodeId: platform.node.id, districtId: platform.district.id, uid, desiredState, now: NOW });
}

/**
 * Asserts `promise` rejects with a geartide error of that class and code whose context holds
 * at least the given fields.
 */
export async function assertRejectsWith(
  promise: Promise<unknown>,
  errorClass: abstract new (...args: never[]) => GeartideError,
  code: string,
  context: ErrorContext = {},
): Promise<GeartideError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof errorClass, `expected ${errorClass.name}, got ${String(caught)}`);
  const error = caught as GeartideError;
  assert.equal(error.code, code, error.message);
  for (const [key, value] of Object.entries(context)) assert.deepEqual(error.context[key], value, `context.${key} of ${error.code}`);
  return error;
}

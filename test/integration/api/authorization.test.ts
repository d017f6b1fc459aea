/**
 * The authorization matrix: every endpoint against every kind of caller. Another user's domain
 * or app is 404 (names cannot be probed), admin endpoints are 403 for users, node endpoints
 * accept a node's own credential only. Every refused request must leave the store as it was.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BOOTSTRAP_TOKEN, startBrokerHarness, storeState, type BrokerHarness } from '../../support/broker-harness.ts';
import { hashCredential, newUserToken } from '../../../src/broker/credentials.ts';
import type { Store } from '../../../src/store/store.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const CALLERS = ['anonymous', 'owner', 'other', 'admin', 'node', 'otherNode', 'bootstrap'] as const;
type Caller = (typeof CALLERS)[number];

interface Fixture {
  readonly h: BrokerHarness;
  readonly tokens: Record<Exclude<Caller, 'anonymous'>, string>;
  /** The single gear of bobs/web, on node1. */
  readonly gearId: string;
  /** A token of bob's made for the revoke row (re-made before each of its cells). */
  bobTokenId: string;
}

interface Row {
  readonly method: string;
  readonly path: string | ((fixture: Fixture) => string);
  readonly body?: (caller: Caller) => unknown;
  /** Expected status per caller. */
  readonly want: Record<Caller, number>;
  /** Restores what the row's successful cells consume (runs before every cell). */
  readonly reset?: (fixture: Fixture) => Promise<void>;
}

/** [anonymous, owner, other, admin, node, otherNode, bootstrap] */
function want(...statuses: [number, number, number, number, number, number, number]): Record<Caller, number> {
  return Object.fromEntries(CALLERS.map((caller, index) => [caller, statuses[index]!])) as Record<Caller, number>;
}

const USER_ONLY = want(401, 200, 200, 200, 403, 403, 403);
const OWNER_OR_ADMIN = want(401, 200, 404, 200, 403, 403, 403);
const ADMIN_ONLY = want(401, 403, 403, 200, 403, 403, 403);
const EVERYONE = want(200, 200, 200, 200, 200, 200, 200);
const APP = '/domains/bobs/apps/web';

async function ensureUser(store: Store, login: string): Promise<void> {
  if (!(await store.getUserByLogin(login))) await store.createUser({ login, role: 'user', maxGears: 1, now: 0 });
}

const ROWS: Row[] = [
  { method: 'GET', path: '/health', want: EVERYONE },
  { method: 'GET', path: '/openapi.json', want: EVERYONE },
  { method: 'GET', path: '/user', want: USER_ONLY },
  { method: 'POST', path: '/users', body: (caller) => ({ login: `made-by-${caller.toLowerCase()}` }), want: want(401, 403, 403, 201, 403, 403, 403) },
  { method: 'GET', path: '/users', want: ADMIN_ONLY },
  { method: 'DELETE', path: '/users/zed', want: want(401, 403, 403, 204, 403, 403, 403), reset: ({ h }) => ensureUser(h.store, 'zed') },
  { method: 'POST', path: '/user/tokens', body: () => ({ name: 'matrix' }), want: want(401, 201, 201, 201, 403, 403, 403) },
  { method: 'GET', path: '/user/tokens', want: USER_ONLY },
  {
    method: 'DELETE',
    path: (fixture) => `/user/tokens/${fixture.bobTokenId}`,
    // Only its owner can revoke a token; for anyone else it does not exist.
    want: want(401, 204, 404, 404, 403, 403, 403),
    reset: async (fixture) => {
      const bob = (await fixture.h.store.getUserByLogin('bob'))!;
      const tokens = await fixture.h.store.listTokens(bob.id);
      if (!tokens.some((token) => token.id === fixture.bobTokenId)) {
        fixture.bobTokenId = (await fixture.h.store.createToken({ userId: bob.id, name: 'revoke-me', tokenHash: hashCredential(newUserToken()), expiresAt: null, now: 0 })).id;
      }
    },
  },
  { method: 'POST', path: '/domains', body: (caller) => ({ name: `dom${caller.toLowerCase()}` }), want: want(401, 201, 201, 201, 403, 403, 403) },
  { method: 'GET', path: '/domains', want: USER_ONLY },
  { method: 'GET', path: '/domains/bobs', want: OWNER_OR_ADMIN },
  {
    method: 'DELETE',
    path: '/domains/spare',
    want: want(401, 204, 404, 204, 403, 403, 403),
    reset: async ({ h }) => {
      const bob = (await h.store.getUserByLogin('bob'))!;
      if (!(await h.store.getDomainByName('spare'))) await h.store.createDomain({ name: 'spare', ownerId: bob.id, now: 0 });
    },
  },
  { method: 'POST', path: '/domains/bobs/apps', body: (caller) => ({ name: `app${caller.toLowerCase()}`, cartridge: 'nodejs' }), want: want(401, 201, 404, 201, 403, 403, 403) },
  { method: 'GET', path: '/domains/bobs/apps', want: OWNER_OR_ADMIN },
  { method: 'GET', path: '/apps', want: USER_ONLY },
  { method: 'GET', path: APP, want: OWNER_OR_ADMIN },
  { method: 'POST', path: `${APP}/stop`, want: OWNER_OR_ADMIN },
  { method: 'POST', path: `${APP}/start`, want: OWNER_OR_ADMIN },
  { method: 'POST', path: `${APP}/restart`, want: OWNER_OR_ADMIN },
  { method: 'POST', path: `${APP}/scale`, body: () => ({ gears: 1 }), want: OWNER_OR_ADMIN },
  { method: 'GET', path: ({ gearId }) => `/gears/${gearId}`, want: OWNER_OR_ADMIN },
  {
    method: 'DELETE',
    path: '/domains/bobs/apps/tmp',
    want: want(401, 204, 404, 204, 403, 403, 403),
    reset: async ({ h }) => {
      const domain = (await h.store.getDomainByName('bobs'))!;
      if (!(await h.store.getApp(domain.id, 'tmp'))) {
        await h.store.createApp({ name: 'tmp', domainId: domain.id, cartridge: 'nodejs', gearProfile: 'small', scaleMin: 1, scaleMax: 1, desiredState: 'started', now: 0 });
      }
    },
  },
  { method: 'POST', path: '/districts', body: (caller) => ({ name: `dist${caller.toLowerCase()}` }), want: want(401, 403, 403, 201, 403, 403, 403) },
  { method: 'GET', path: '/districts', want: ADMIN_ONLY },
  { method: 'GET', path: '/districts/east', want: ADMIN_ONLY },
  {
    method: 'POST',
    path: '/districts/east/nodes',
    body: () => ({ node: 'spare1' }),
    want: ADMIN_ONLY,
    reset: async ({ h }) => {
      const spare = (await h.store.getNodeByName('spare1'))!;
      await h.store.setNodeDistrict(spare.id, null);
      await h.store.setNodeState(spare.id, 'active', null);
    },
  },
  {
    method: 'DELETE',
    path: '/districts/east/nodes/spare1',
    want: ADMIN_ONLY,
    reset: async ({ h }) => {
      const spare = (await h.store.getNodeByName('spare1'))!;
      await h.store.setNodeDistrict(spare.id, (await h.store.getDistrictByName('east'))!.id);
      await h.store.setNodeState(spare.id, 'deactivated', null);
    },
  },
  { method: 'POST', path: '/districts/east/nodes/node2/deactivate', want: ADMIN_ONLY },
  { method: 'POST', path: '/districts/east/nodes/node2/activate', want: ADMIN_ONLY },
  { method: 'POST', path: '/districts/east/capacity', body: () => ({ add: 1 }), want: ADMIN_ONLY },
  {
    method: 'POST',
    path: '/nodes/register',
    body: (caller) => ({ name: `reg-${caller.toLowerCase()}`, gearProfile: 'small', maxActiveGears: 5 }),
    want: want(401, 403, 403, 403, 403, 403, 201),
  },
  {
    method: 'POST',
    path: '/nodes/node1/heartbeat',
    body: () => ({ maxActiveGears: 10, gears: { started: 1, idle: 0, stopped: 0, unknown: 0 } }),
    // Only node1 itself: not a user's token (not even an admin's), not another node's credential.
    want: want(401, 403, 403, 403, 200, 403, 403),
  },
  { method: 'GET', path: '/nodes/node1/gears', want: want(401, 403, 403, 200, 200, 403, 403) },
  {
    method: 'PUT',
    path: ({ gearId }) => `/nodes/node1/gears/${gearId}`,
    body: () => ({ observedState: 'started', endpoint: '10.0.0.1:35000' }),
    want: want(401, 403, 403, 403, 204, 403, 403),
  },
  { method: 'GET', path: '/nodes', want: ADMIN_ONLY },
  { method: 'GET', path: '/nodes/node1', want: ADMIN_ONLY },
  { method: 'POST', path: '/nodes/node2/deactivate', want: ADMIN_ONLY },
  { method: 'POST', path: '/nodes/node2/activate', want: ADMIN_ONLY },
  { method: 'GET', path: '/events', want: USER_ONLY },
];

async function setUp(h: BrokerHarness): Promise<Fixture> {
  const bob = await h.createUser('bob');
  const carol = await h.createUser('carol');
  await h.createDomain(bob, 'bobs');
  await h.createDistrict('east');
  const [node1] = await h.registerNodes(1, { district: 'east' });
  const web = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
  assert.equal(web.gears[0].node, 'node1');
  const [node2] = await h.registerNodes(1, { district: 'east' });
  const spare = await h.ok('POST', '/nodes/register', { token: BOOTSTRAP_TOKEN, body: { name: 'spare1', gearProfile: 'small', maxActiveGears: 1 }, status: 201 });
  assert.ok(spare);
  return {
    h,
    tokens: { owner: bob.token, other: carol.token, admin: h.admin.token, node: node1!.credential, otherNode: node2!.credential, bootstrap: BOOTSTRAP_TOKEN },
    gearId: web.gears[0].id,
    bobTokenId: '',
  };
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: authorization matrix`, { skip: storeSkipReason(dialect) }, () => {
    let fixture: Fixture;
    before(async () => {
      fixture = await setUp(await startBrokerHarness(dialect));
    });
    after(() => fixture?.h.close());

    for (const row of ROWS) {
      const label = `${row.method} ${typeof row.path === 'string' ? row.path : row.path({ gearId: ':id', bobTokenId: ':id' } as Fixture)}`;
      it(`${label}: ${CALLERS.map((caller) => `${caller} ${row.want[caller]}`).join(', ')}`, async () => {
        // Refused callers first, so the successful ones cannot hide a change they made.
        const order = [...CALLERS].sort((a, b) => Number(row.want[a] < 300) - Number(row.want[b] < 300));
        for (const caller of order) {
          await row.reset?.(fixture);
          const before = await storeState(fixture.h.store);
          const path = typeof row.path === 'string' ? row.path : row.path(fixture);
          const body = row.body?.(caller);
          const result = await fixture.h.call(row.method, path, {
            ...(caller === 'anonymous' ? {} : { token: fixture.tokens[caller] }),
            ...(body === undefined ? {} : { body }),
          });
          assert.equal(result.status, row.want[caller], `${caller}: ${row.method} ${path} → ${result.status} ${result.text}`);
          if (result.status >= 400) {
            assert.equal(typeof result.json?.error?.code, 'string', `${caller}: error body ${result.text}`);
            assert.equal(result.json.error.code, { 401: 'unauthenticated', 403: 'forbidden' }[result.status] ?? result.json.error.code);
            assert.equal(await storeState(fixture.h.store), before, `${caller}: a refused ${row.method} ${path} changed the store`);
          }
        }
      });
    }

    it('a node credential is refused for another node by name, with 403 naming the owner', async () => {
      const result = await fixture.h.call('GET', '/nodes/node1/gears', { token: fixture.tokens.otherNode });
      assert.equal(result.status, 403);
      assert.match(result.json.error.message, /belongs to node2, not node1/);
    });

    it('a 404 for another user looks exactly like a 404 for a name that does not exist', async () => {
      const hidden = await fixture.h.call('GET', '/domains/bobs/apps', { token: fixture.tokens.other });
      const absent = await fixture.h.call('GET', '/domains/nosuch/apps', { token: fixture.tokens.other });
      assert.equal(hidden.status, 404);
      assert.deepEqual(hidden.json, { error: { ...absent.json.error, message: absent.json.error.message.replace('nosuch', 'bobs') } });
    });
  });
}

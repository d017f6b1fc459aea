import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assertApiError, withBroker } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: health, OpenAPI, users, tokens`, { skip: storeSkipReason(dialect) }, () => {
    it('answers health without credentials, naming the store in use', () =>
      withBroker(dialect, async (h) => {
        const { status, json } = await h.call('GET', '/health');
        assert.equal(status, 200);
        assert.deepEqual(json, { status: 'ok', store: dialect, version: h.broker.context.version });
      }));

    it('serves an OpenAPI 3 document listing every route', () =>
      withBroker(dialect, async (h) => {
        const { status, json } = await h.call('GET', '/openapi.json');
        assert.equal(status, 200);
        assert.match(json.openapi, /^3\.\d+\.\d+$/);
        assert.equal(typeof json.info.title, 'string');
        const paths = Object.keys(json.paths);
        for (const path of [
          '/api/v1/health',
          '/api/v1/user',
          '/api/v1/users',
          '/api/v1/users/{login}',
          '/api/v1/user/tokens',
          '/api/v1/user/tokens/{id}',
          '/api/v1/domains',
          '/api/v1/domains/{domain}',
          '/api/v1/domains/{domain}/apps',
          '/api/v1/domains/{domain}/apps/{app}',
          '/api/v1/domains/{domain}/apps/{app}/start',
          '/api/v1/domains/{domain}/apps/{app}/stop',
          '/api/v1/domains/{domain}/apps/{app}/restart',
          '/api/v1/domains/{domain}/apps/{app}/scale',
          '/api/v1/apps',
          '/api/v1/gears/{id}',
          '/api/v1/districts',
          '/api/v1/districts/{name}',
          '/api/v1/districts/{name}/nodes',
          '/api/v1/districts/{name}/nodes/{node}',
          '/api/v1/districts/{name}/nodes/{node}/activate',
          '/api/v1/districts/{name}/nodes/{node}/deactivate',
          '/api/v1/districts/{name}/capacity',
          '/api/v1/nodes',
          '/api/v1/nodes/register',
          '/api/v1/nodes/{name}',
          '/api/v1/nodes/{name}/heartbeat',
          '/api/v1/nodes/{name}/gears',
          '/api/v1/nodes/{name}/gears/{id}',
          '/api/v1/nodes/{name}/activate',
          '/api/v1/nodes/{name}/deactivate',
          '/api/v1/events',
        ]) {
          assert.ok(paths.includes(path), `OpenAPI lists ${path}`);
        }
        // The documented request schema is the enforced one: closed, with the required fields.
        const createApp = json.paths['/api/v1/domains/{domain}/apps'].post;
        const schema = createApp.requestBody.content['application/json'].schema;
        assert.deepEqual([...schema.required].sort(), ['cartridge', 'name']);
        assert.equal(schema.additionalProperties, false);
        assert.ok(json.paths['/api/v1/domains/{domain}/apps'].post.responses['201']);
      }));

    it('GET /user shows the caller with its gear usage', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob', { maxGears: 7 });
        const me = await h.ok('GET', '/user', { token: bob.token });
        assert.deepEqual(me, { id: bob.id, login: 'bob', role: 'user', maxGears: 7, createdAt: new Date(h.now()).toISOString(), gearsUsed: 0 });

        await h.createDistrict('east');
        await h.registerNodes(1, { district: 'east' });
        await h.createDomain(bob, 'bobs');
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 3 }, status: 201 });
        assert.equal((await h.ok('GET', '/user', { token: bob.token })).gearsUsed, 3);
        assert.equal((await h.ok('GET', '/user', { token: h.admin.token })).role, 'admin');
      }));

    it('creates, lists and deletes users (admin); the new token works at once and stops with its user', () =>
      withBroker(dialect, async (h) => {
        const created = await h.ok('POST', '/users', { token: h.admin.token, body: { login: 'carol@example.com', role: 'user', maxGears: 4 }, status: 201 });
        assert.deepEqual(Object.keys(created).sort(), ['token', 'user']);
        assert.match(created.token, /^gtu_[A-Za-z0-9_-]{43}$/);
        assert.equal(created.user.login, 'carol@example.com');
        assert.equal(created.user.maxGears, 4);
        assert.match(created.user.createdAt, ISO);

        const defaulted = await h.ok('POST', '/users', { token: h.admin.token, body: { login: 'dave' }, status: 201 });
        assert.equal(defaulted.user.role, 'user');
        assert.equal(defaulted.user.maxGears, h.config.defaultMaxGears);

        const list = await h.ok('GET', '/users', { token: h.admin.token });
        assert.deepEqual(list.items.map((user: { login: string }) => user.login).sort(), ['admin', 'carol@example.com', 'dave']);
        for (const user of list.items) assert.deepEqual(Object.keys(user).sort(), ['createdAt', 'id', 'login', 'maxGears', 'role']);

        assert.equal((await h.ok('GET', '/user', { token: created.token })).login, 'carol@example.com');

        const deleted = await h.call('DELETE', '/users/carol@example.com', { token: h.admin.token });
        assert.equal(deleted.status, 204);
        assert.equal(deleted.text, '');
        assertApiError(await h.call('GET', '/user', { token: created.token }), { status: 401, code: 'unauthenticated' });
        assert.deepEqual((await h.ok('GET', '/users', { token: h.admin.token })).items.map((user: { login: string }) => user.login).sort(), ['admin', 'dave']);
        assertApiError(await h.call('DELETE', '/users/carol@example.com', { token: h.admin.token }), { status: 404, code: 'user_not_found', field: 'login' });
      }));

    it('refuses to delete a user who owns domains, and an admin deleting itself', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob');
        await h.createDomain(bob, 'bobs');
        assertApiError(await h.call('DELETE', '/users/bob', { token: h.admin.token }), { status: 409, code: 'user_has_domains' });
        assert.equal((await h.ok('GET', '/user', { token: bob.token })).login, 'bob', 'refused delete left the user and its token');
        assertApiError(await h.call('DELETE', '/users/admin', { token: h.admin.token }), { status: 409, code: 'cannot_delete_self', field: 'login' });

        await h.call('DELETE', '/domains/bobs', { token: bob.token });
        assert.equal((await h.call('DELETE', '/users/bob', { token: h.admin.token })).status, 204);
      }));

    it('creates tokens shown once, lists them without values, revokes them', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob');
        const laptop = await h.ok('POST', '/user/tokens', { token: bob.token, body: { name: 'laptop' }, status: 201 });
        assert.deepEqual(Object.keys(laptop).sort(), ['createdAt', 'expiresAt', 'id', 'name', 'token']);
        assert.match(laptop.token, /^gtu_/);
        assert.equal(laptop.name, 'laptop');
        assert.equal(laptop.expiresAt, null);
        // No body at all: a default name.
        const bare = await h.ok('POST', '/user/tokens', { token: bob.token, status: 201 });
        assert.equal(bare.name, 'cli');

        assert.equal((await h.ok('GET', '/user', { token: laptop.token })).login, 'bob');
        const list = await h.ok('GET', '/user/tokens', { token: bob.token });
        assert.deepEqual(list.items.map((token: { name: string }) => token.name).sort(), ['cli', 'initial', 'laptop']);
        for (const token of list.items) assert.deepEqual(Object.keys(token).sort(), ['createdAt', 'expiresAt', 'id', 'name']);
        // Another user's list does not show bob's tokens.
        const carol = await h.createUser('carol');
        assert.deepEqual((await h.ok('GET', '/user/tokens', { token: carol.token })).items.map((token: { name: string }) => token.name), ['initial']);

        // Carol cannot revoke bob's token: it is not found for her.
        assertApiError(await h.call('DELETE', `/user/tokens/${laptop.id}`, { token: carol.token }), { status: 404, code: 'token_not_found', field: 'id' });
        assert.equal((await h.ok('GET', '/user', { token: laptop.token })).login, 'bob');

        assert.equal((await h.call('DELETE', `/user/tokens/${laptop.id}`, { token: bob.token })).status, 204);
        assertApiError(await h.call('GET', '/user', { token: laptop.token }), { status: 401, code: 'unauthenticated' });
        assert.equal((await h.ok('GET', '/user', { token: bob.token })).login, 'bob', 'the other tokens still work');
        assertApiError(await h.call('DELETE', `/user/tokens/${laptop.id}`, { token: bob.token }), { status: 404, code: 'token_not_found' });
        assert.equal((await h.ok('GET', '/user/tokens', { token: bob.token })).items.length, 2);
      }));

    it('an expiring token works until its expiry and is refused with 401 after it', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob');
        const short = await h.ok('POST', '/user/tokens', { token: bob.token, body: { name: 'ci', expiresInSeconds: 60 }, status: 201 });
        assert.equal(short.expiresAt, new Date(h.now() + 60_000).toISOString());
        h.advance(59_000);
        assert.equal((await h.ok('GET', '/user', { token: short.token })).login, 'bob');
        h.advance(2_000);
        assertApiError(await h.call('GET', '/user', { token: short.token }), { status: 401, code: 'unauthenticated' });
        assert.equal((await h.ok('GET', '/user', { token: bob.token })).login, 'bob', 'a token without expiry still works');
      }));
  });
}

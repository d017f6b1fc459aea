import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/core/errors.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, assertRejectsWith, createApp, placeGear, seedPlatform } from './store-fixtures.ts';

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: users, tokens, domains, apps`, { skip: storeSkipReason(dialect) }, () => {
    it('creates users, finds them by id and login, lists them by login', () =>
      withStore(dialect, async (store) => {
        const bob = await store.createUser({ login: 'bob', role: 'user', maxGears: 3, now: NOW });
        const admin = await store.createUser({ login: 'admin', role: 'admin', maxGears: 100, now: NOW + 1 });
        assert.deepEqual(await store.getUser(bob.id), { id: bob.id, login: 'bob', role: 'user', maxGears: 3, createdAt: NOW });
        assert.deepEqual(await store.getUserByLogin('admin'), admin);
        assert.equal(await store.getUser('no-such-id'), undefined);
        assert.equal(await store.getUserByLogin('carol'), undefined);
        assert.deepEqual((await store.listUsers()).map((user) => user.login), ['admin', 'bob']);
      }));

    it('refuses a second user with the same login, naming the field', () =>
      withStore(dialect, async (store) => {
        await store.createUser({ login: 'bob', role: 'user', maxGears: 3, now: NOW });
        await assertRejectsWith(store.createUser({ login: 'bob', role: 'admin', maxGears: 1, now: NOW }), ConflictError, 'user_exists', { field: 'login' });
        assert.equal((await store.listUsers()).length, 1);
      }));

    it('deletes a user with its tokens, and refuses while it owns domains', () =>
      withStore(dialect, async (store) => {
        const bob = await store.createUser({ login: 'bob', role: 'user', maxGears: 3, now: NOW });
        await store.createToken({ userId: bob.id, name: 'cli', tokenHash: 'hash-bob', expiresAt: null, now: NOW });
        const domain = await store.createDomain({ name: 'bobs', ownerId: bob.id, now: NOW });
        await assertRejectsWith(store.deleteUser(bob.id), ConflictError, 'user_has_domains');
        assert.ok(await store.getUser(bob.id), 'refused delete left the user');

        await store.deleteDomain(domain.id);
        await store.deleteUser(bob.id);
        assert.equal(await store.getUser(bob.id), undefined);
        assert.equal(await store.findUserByTokenHash('hash-bob', NOW), undefined);
        assert.deepEqual(await store.listTokens(bob.id), []);
        await assertRejectsWith(store.deleteUser(bob.id), NotFoundError, 'user_not_found');
      }));

    it('finds a user by token hash only while the token is unexpired', () =>
      withStore(dialect, async (store) => {
        const bob = await store.createUser({ login: 'bob', role: 'user', maxGears: 3, now: NOW });
        const forever = await store.createToken({ userId: bob.id, name: 'cli', tokenHash: 'h-forever', expiresAt: null, now: NOW });
        const shortLived = await store.createToken({ userId: bob.id, name: 'ci', tokenHash: 'h-short', expiresAt: NOW + 1000, now: NOW + 1 });

        const found = await store.findUserByTokenHash('h-forever', NOW + 10 ** 9);
        assert.deepEqual(found, { user: bob, token: forever });
        assert.deepEqual((await store.findUserByTokenHash('h-short', NOW + 999))?.token, shortLived);
        assert.equal(await store.findUserByTokenHash('h-short', NOW + 1000), undefined, 'expired at expiresAt');
        assert.equal(await store.findUserByTokenHash('h-unknown', NOW), undefined);
        assert.deepEqual(await store.listTokens(bob.id), [forever, shortLived]);
      }));

    it('refuses a duplicate token hash and a token for an unknown user', () =>
      withStore(dialect, async (store) => {
        const bob = await store.createUser({ login: 'bob', role: 'user', maxGears: 3, now: NOW });
        await store.createToken({ userId: bob.id, name: 'cli', tokenHash: 'same', expiresAt: null, now: NOW });
        await assertRejectsWith(store.createToken({ userId: bob.id, name: 'again', tokenHash: 'same', expiresAt: null, now: NOW }), ConflictError, 'token_exists');
        await assertRejectsWith(store.createToken({ userId: 'ghost', name: 'x', tokenHash: 'other', expiresAt: null, now: NOW }), NotFoundError, 'user_not_found');
      }));

    it("deletes a token only for its own user", () =>
      withStore(dialect, async (store) => {
        const bob = await store.createUser({ login: 'bob', role: 'user', maxGears: 3, now: NOW });
        const eve = await store.createUser({ login: 'eve', role: 'user', maxGears: 3, now: NOW });
        const token = await store.createToken({ userId: bob.id, name: 'cli', tokenHash: 'h', expiresAt: null, now: NOW });
        assert.equal(await store.deleteToken(eve.id, token.id), false);
        assert.ok(await store.findUserByTokenHash('h', NOW));
        assert.equal(await store.deleteToken(bob.id, token.id), true);
        assert.equal(await store.findUserByTokenHash('h', NOW), undefined);
        assert.equal(await store.deleteToken(bob.id, token.id), false, 'second delete finds nothing');
      }));

    it('creates domains with unique names and lists them by owner', () =>
      withStore(dialect, async (store) => {
        const bob = await store.createUser({ login: 'bob', role: 'user', maxGears: 3, now: NOW });
        const eve = await store.createUser({ login: 'eve', role: 'user', maxGears: 3, now: NOW });
        const zeta = await store.createDomain({ name: 'zeta', ownerId: bob.id, now: NOW });
        const alpha = await store.createDomain({ name: 'alpha', ownerId: bob.id, now: NOW });
        const eves = await store.createDomain({ name: 'eves', ownerId: eve.id, now: NOW });
        await assertRejectsWith(store.createDomain({ name: 'zeta', ownerId: eve.id, now: NOW }), ConflictError, 'domain_exists', { field: 'name' });
        await assertRejectsWith(store.createDomain({ name: 'nobody', ownerId: 'ghost', now: NOW }), NotFoundError, 'user_not_found');

        assert.deepEqual(await store.getDomainByName('zeta'), { id: zeta.id, name: 'zeta', ownerId: bob.id, createdAt: NOW });
        assert.equal(await store.getDomainByName('nope'), undefined);
        assert.deepEqual(await store.listDomains(bob.id), [alpha, zeta]);
        assert.deepEqual(await store.listDomains(), [alpha, eves, zeta]);
      }));

    it('refuses to delete a domain that has apps', () =>
      withStore(dialect, async (store) => {
        const { domain, app } = await seedPlatform(store);
        await assertRejectsWith(store.deleteDomain(domain.id), ConflictError, 'domain_has_apps');
        await store.deleteApp(app.id);
        await store.deleteDomain(domain.id);
        assert.equal(await store.getDomainByName(domain.name), undefined);
        await assertRejectsWith(store.deleteDomain(domain.id), NotFoundError, 'domain_not_found');
      }));

    it('creates apps unique per domain, not globally', () =>
      withStore(dialect, async (store) => {
        const { user, domain, app } = await seedPlatform(store);
        assert.deepEqual(app, {
          id: app.id,
          name: 'hello',
          domainId: domain.id,
          cartridge: 'nodejs-20',
          gearProfile: 'small',
          scaleMin: 1,
          scaleMax: 3,
          desiredState: 'started',
          restartGeneration: 0,
          sourceId: null,
          sourceVersion: 0,
          createdAt: NOW,
        });
        await assertRejectsWith(createApp(store, domain.id, 'hello'), ConflictError, 'app_exists', { field: 'name' });
        const other = await store.createDomain({ name: 'other', ownerId: user.id, now: NOW });
        const sameName = await createApp(store, other.id, 'hello');
        assert.notEqual(sameName.id, app.id);
        await assertRejectsWith(createApp(store, 'no-such-domain', 'x'), NotFoundError, 'domain_not_found', { field: 'domainId' });

        assert.deepEqual(await store.getApp(domain.id, 'hello'), app);
        assert.deepEqual(await store.getApp(other.id, 'hello'), sameName);
        assert.equal(await store.getApp(domain.id, 'nope'), undefined);
        assert.deepEqual(await store.getAppById(app.id), app);
        assert.equal(await store.getAppById('nope'), undefined);
      }));

    it('lists apps by domain and by owner', () =>
      withStore(dialect, async (store) => {
        const { user, domain, app } = await seedPlatform(store);
        const second = await createApp(store, domain.id, 'api');
        const eve = await store.createUser({ login: 'eve', role: 'user', maxGears: 3, now: NOW });
        const evesDomain = await store.createDomain({ name: 'eves', ownerId: eve.id, now: NOW });
        const evesApp = await createApp(store, evesDomain.id, 'shop');

        assert.deepEqual((await store.listApps()).map((a) => a.name), ['api', 'hello', 'shop']);
        assert.deepEqual(await store.listApps({ domainId: domain.id }), [second, app]);
        assert.deepEqual(await store.listApps({ ownerId: user.id }), [second, app]);
        assert.deepEqual(await store.listApps({ ownerId: eve.id }), [evesApp]);
        assert.deepEqual(await store.listApps({ ownerId: eve.id, domainId: domain.id }), []);
      }));

    it("stops and starts an app's gears with it, and so its nodes' active load", () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const other = await createApp(store, platform.domain.id, 'other');
        await placeGear(store, platform);
        await placeGear(store, platform);
        const untouched = await placeGear(store, { ...platform, app: other });

        await store.setAppDesiredState(platform.app.id, 'stopped');
        assert.deepEqual((await store.listGears({ appId: platform.app.id })).map((gear) => gear.desiredState), ['stopped', 'stopped']);
        assert.equal((await store.getGear(untouched.id))?.desiredState, 'started', "another app's gear keeps its state");
        assert.equal((await store.countActiveGearsByNode([platform.node.id])).get(platform.node.id), 1);

        await store.setAppDesiredState(platform.app.id, 'started');
        assert.deepEqual((await store.listGears({ appId: platform.app.id })).map((gear) => gear.desiredState), ['started', 'started']);
        assert.equal((await store.countActiveGearsByNode([platform.node.id])).get(platform.node.id), 3);
      }));

    it('changes desired state, scale and restart generation, and says when the app is gone', () =>
      withStore(dialect, async (store) => {
        const { app } = await seedPlatform(store);
        await store.setAppDesiredState(app.id, 'stopped');
        await store.setAppScale(app.id, 2, 5);
        assert.equal(await store.bumpAppRestartGeneration(app.id), 1);
        assert.equal(await store.bumpAppRestartGeneration(app.id), 2);
        const changed = await store.getAppById(app.id);
        assert.equal(changed?.desiredState, 'stopped');
        assert.equal(changed?.scaleMin, 2);
        assert.equal(changed?.scaleMax, 5);
        assert.equal(changed?.restartGeneration, 2);

        await assertRejectsWith(store.setAppDesiredState('gone', 'started'), NotFoundError, 'app_not_found');
        await assertRejectsWith(store.setAppScale('gone', 1, 1), NotFoundError, 'app_not_found');
        await assertRejectsWith(store.bumpAppRestartGeneration('gone'), NotFoundError, 'app_not_found');
      }));

    it("counts a user's gears over all its apps and domains, and no one else's", () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        assert.equal(await store.countUserGears(platform.user.id), 0);
        await placeGear(store, platform);
        await placeGear(store, platform, 'stopped');
        const second = await store.createDomain({ name: 'second', ownerId: platform.user.id, now: NOW });
        const otherApp = await createApp(store, second.id, 'other');
        await placeGear(store, { ...platform, app: otherApp });

        const eve = await store.createUser({ login: 'eve', role: 'user', maxGears: 3, now: NOW });
        const evesDomain = await store.createDomain({ name: 'eves', ownerId: eve.id, now: NOW });
        await placeGear(store, { ...platform, app: await createApp(store, evesDomain.id, 'shop') });

        assert.equal(await store.countUserGears(platform.user.id), 3, 'stopped gears count too');
        assert.equal(await store.countUserGears(eve.id), 1);

        const [firstGear] = await store.listGears({ appId: platform.app.id });
        await store.deleteGear(firstGear!.id);
        assert.equal(await store.countUserGears(platform.user.id), 2, 'a deleted gear no longer counts');
        await store.deleteApp(otherApp.id);
        assert.equal(await store.countUserGears(platform.user.id), 1, "a deleted app's gears no longer count");
        assert.equal(await store.countUserGears(eve.id), 1);
        assert.equal(await store.countUserGears('no-such-user'), 0);
      }));

    it('deletes an app with its gears and gives their UIDs back', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store, { uidCapacity: 3 });
        const first = await placeGear(store, platform);
        const second = await placeGear(store, platform);
        const keeper = await createApp(store, platform.domain.id, 'keeper');
        const kept = await placeGear(store, { ...platform, app: keeper });
        assert.deepEqual([first.uid, second.uid, kept.uid], [1000, 1001, 1002]);
        assert.equal((await store.getDistrict(platform.district.id))?.availableUids, 0);

        await store.deleteApp(platform.app.id);
        assert.equal(await store.getAppById(platform.app.id), undefined);
        assert.equal(await store.getGear(first.id), undefined);
        assert.deepEqual((await store.listGears()).map((gear) => gear.id), [kept.id]);
        assert.equal((await store.getDistrict(platform.district.id))?.availableUids, 2);
        assert.equal(await store.allocateUid(platform.district.id), 1000, 'freed UIDs are reused lowest first');
        await assertRejectsWith(store.deleteApp(platform.app.id), NotFoundError, 'app_not_found');
      }));
  });
}

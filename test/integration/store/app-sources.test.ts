import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/core/errors.ts';
import { STORE_DIALECTS, storeSkipReason, withStore } from '../../support/stores.ts';
import { NOW, assertRejectsWith, placeGear, seedPlatform } from './store-fixtures.ts';

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

for (const dialect of STORE_DIALECTS) {
  describe(`store on ${dialect}: app sources`, { skip: storeSkipReason(dialect) }, () => {
    it('stores an archive byte for byte and lists sources without their bytes', () =>
      withStore(dialect, async (store) => {
        const { user } = await seedPlatform(store);
        // Every byte value, zero included: a text column would mangle them.
        const archive = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, index) => index)), randomBytes(4096)]);
        const created = await store.createSource({ ownerId: user.id, archive, sha256: sha256(archive), now: NOW });
        assert.deepEqual(created, { id: created.id, ownerId: user.id, size: archive.byteLength, sha256: sha256(archive), createdAt: NOW });

        const found = await store.getSource(created.id);
        assert.ok(found);
        assert.ok(Buffer.isBuffer(found.archive), 'the archive comes back as a Buffer');
        assert.ok(found.archive.equals(archive), 'the archive comes back unchanged');
        assert.deepEqual({ ...found, archive: undefined }, { ...created, archive: undefined });
        assert.equal(await store.getSource('no-such-source'), undefined);

        const second = await store.createSource({ ownerId: user.id, archive: Buffer.from('x'), sha256: sha256(Buffer.from('x')), now: NOW + 1 });
        assert.deepEqual(await store.listSources({ ownerId: user.id }), [created, second]);
        assert.deepEqual(await store.listSources({ ids: [second.id] }), [second]);
        assert.deepEqual(await store.listSources({ ids: [] }), []);
        assert.ok(!('archive' in (await store.listSources())[0]!), 'listSources leaves the bytes out');
      }));

    it('refuses a source for an unknown owner', () =>
      withStore(dialect, async (store) => {
        await assertRejectsWith(store.createSource({ ownerId: 'nobody', archive: Buffer.from('x'), sha256: 'x', now: NOW }), NotFoundError, 'user_not_found', { field: 'ownerId' });
      }));

    it('creates an app at source version 1 with a source, 0 without; refuses an unknown source', () =>
      withStore(dialect, async (store) => {
        const { user, domain, app: plain } = await seedPlatform(store);
        assert.equal(plain.sourceId, null);
        assert.equal(plain.sourceVersion, 0);
        const source = await store.createSource({ ownerId: user.id, archive: Buffer.from('v1'), sha256: sha256(Buffer.from('v1')), now: NOW });
        const base = { domainId: domain.id, cartridge: 'nodejs', gearProfile: 'small', scaleMin: 1, scaleMax: 1, desiredState: 'started' as const, now: NOW };
        const withSource = await store.createApp({ ...base, name: 'sourced', sourceId: source.id });
        assert.equal(withSource.sourceId, source.id);
        assert.equal(withSource.sourceVersion, 1);
        assert.deepEqual(await store.getAppById(withSource.id), withSource);

        await assertRejectsWith(store.createApp({ ...base, name: 'ghost', sourceId: 'no-such-source' }), NotFoundError, 'source_not_found', { field: 'sourceId' });
        assert.equal(await store.getApp(domain.id, 'ghost'), undefined);
      }));

    it('setAppSource bumps the version on every deploy, the same source included, and node assignments carry it', () =>
      withStore(dialect, async (store) => {
        const platform = await seedPlatform(store);
        const { user, app } = platform;
        await placeGear(store, platform);
        assert.equal((await store.listNodeAssignments(platform.node.id))[0]!.sourceVersion, null, 'never deployed: null, not 0');

        const v1 = await store.createSource({ ownerId: user.id, archive: Buffer.from('v1'), sha256: sha256(Buffer.from('v1')), now: NOW });
        const v2 = await store.createSource({ ownerId: user.id, archive: Buffer.from('v2'), sha256: sha256(Buffer.from('v2')), now: NOW });
        assert.equal(await store.setAppSource(app.id, v1.id), 1);
        assert.equal(await store.setAppSource(app.id, v2.id), 2);
        assert.equal(await store.setAppSource(app.id, v2.id), 3, 'redeploying the same source is still a deploy');
        const after = (await store.getAppById(app.id))!;
        assert.equal(after.sourceId, v2.id);
        assert.equal(after.sourceVersion, 3);
        assert.equal((await store.listNodeAssignments(platform.node.id))[0]!.sourceVersion, 3);

        await assertRejectsWith(store.setAppSource('no-such-app', v1.id), NotFoundError, 'app_not_found');
        await assertRejectsWith(store.setAppSource(app.id, 'no-such-source'), NotFoundError, 'source_not_found', { field: 'sourceId' });
        assert.equal((await store.getAppById(app.id))!.sourceVersion, 3, 'a refused deploy changes nothing');
      }));

    it('a deleted user takes its sources along, unless another user\'s app runs one', () =>
      withStore(dialect, async (store) => {
        const { domain } = await seedPlatform(store);
        const admin = await store.createUser({ login: 'root', role: 'admin', maxGears: 10, now: NOW });
        const carol = await store.createUser({ login: 'carol', role: 'user', maxGears: 10, now: NOW });
        await store.createSource({ ownerId: carol.id, archive: Buffer.from('c'), sha256: sha256(Buffer.from('c')), now: NOW });
        await store.deleteUser(carol.id);
        assert.deepEqual(await store.listSources({ ownerId: carol.id }), []);

        const adminSource = await store.createSource({ ownerId: admin.id, archive: Buffer.from('a'), sha256: sha256(Buffer.from('a')), now: NOW });
        await store.createApp({ name: 'byadmin', domainId: domain.id, cartridge: 'nodejs', gearProfile: 'small', scaleMin: 1, scaleMax: 1, desiredState: 'started', sourceId: adminSource.id, now: NOW });
        await assertRejectsWith(store.deleteUser(admin.id), ConflictError, 'user_sources_in_use');
        assert.ok(await store.getUser(admin.id), 'the refused delete left the user');
        assert.ok(await store.getSource(adminSource.id), 'and its source');
      }));
  });
}

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';

import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';
import { assertApiError, storeState, withBroker, type BrokerHarness, type HarnessUser } from '../../support/broker-harness.ts';

const GZIP = { 'content-type': 'application/gzip' };

/** One tar entry (ustar header + padded body), written by hand so tests can make archives tar itself refuses to. */
function tarEntry(name: string, content = '', type = '0', linkName = ''): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write(type, 156);
  header.write(linkName, 157, 100);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  body.write(content);
  return Buffer.concat([header, body]);
}

/** A tar.gz of the given entries, with the two zero blocks that end a tar. */
function tarGz(...entries: Buffer[]): Buffer {
  return gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));
}

const V1 = tarGz(tarEntry('server.js', 'console.log("v1")'), tarEntry('lib/', '', '5'), tarEntry('lib/util.js', 'module.exports = 1'));
const V2 = tarGz(tarEntry('server.js', 'console.log("v2")'));

async function platform(h: BrokerHarness) {
  await h.createDistrict('east');
  const nodes = await h.registerNodes(2, { district: 'east' });
  const bob = await h.createUser('bob');
  await h.createDomain(bob, 'bobs');
  return { nodes, bob };
}

async function upload(h: BrokerHarness, user: HarnessUser, archive: Buffer): Promise<{ id: string; size: number; sha256: string }> {
  return h.ok('POST', '/sources', { token: user.token, rawBody: archive, headers: GZIP, status: 201 });
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: app sources`, { skip: storeSkipReason(dialect) }, () => {
    it('uploads a source, creates an app with it, and serves the archive to the node running the gear', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h);
        const source = await upload(h, bob, V1);
        assert.deepEqual(source, { id: source.id, size: V1.byteLength, sha256: createHash('sha256').update(V1).digest('hex') });

        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', source: source.id }, status: 201 });
        assert.deepEqual(app.source, { id: source.id, version: 1, size: V1.byteLength });
        assert.deepEqual((await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token })).source, app.source);
        assert.deepEqual((await h.ok('GET', '/apps', { token: bob.token })).items[0].source, app.source);

        const gear = app.gears[0];
        const node = nodes.find((each) => each.name === gear.node)!;
        const desired = await h.ok('GET', `/nodes/${node.name}/gears`, { token: node.credential });
        assert.equal(desired.items[0].sourceVersion, 1);

        const download = await h.call('GET', `/nodes/${node.name}/gears/${gear.id}/source`, { token: node.credential });
        assert.equal(download.status, 200, download.text);
        assert.match(String(download.headers['content-type']), /^application\/gzip/);
        assert.ok(download.bytes.equals(V1), 'the node gets the archive byte for byte');

        // An app without a source: the built-in app runs, and there is nothing to download.
        const plain = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'plain', cartridge: 'nodejs' }, status: 201 });
        assert.equal(plain.source, null);
        const plainNode = nodes.find((each) => each.name === plain.gears[0].node)!;
        const plainDesired = await h.ok('GET', `/nodes/${plainNode.name}/gears`, { token: plainNode.credential });
        assert.equal(plainDesired.items.find((each: { app: string }) => each.app === 'plain').sourceVersion, null);
        assertApiError(await h.call('GET', `/nodes/${plainNode.name}/gears/${plain.gears[0].id}/source`, { token: plainNode.credential }), { status: 404, code: 'source_not_found' });
      }));

    it('deploy sets a new source, bumps the version and wakes the node\'s watch', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h);
        const v1 = await upload(h, bob, V1);
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', source: v1.id }, status: 201 });
        const node = nodes.find((each) => each.name === app.gears[0].node)!;
        const before = await h.ok('GET', `/nodes/${node.name}/gears`, { token: node.credential });

        const v2 = await upload(h, bob, V2);
        const started = Date.now();
        const waiting = h.call('GET', `/nodes/${node.name}/gears?since=${before.version}&wait=30`, { token: node.credential });
        await new Promise((resolve) => setTimeout(resolve, 50));
        const deployed = await h.ok('POST', '/domains/bobs/apps/web/deploy', { token: bob.token, body: { source: v2.id } });
        assert.deepEqual(deployed.source, { id: v2.id, version: 2, size: V2.byteLength });

        const woken = await waiting;
        assert.equal(woken.status, 200);
        assert.equal(woken.json.items[0].sourceVersion, 2);
        assert.ok(Date.now() - started < 5000, 'the watch answered at the deploy, not at the end of its wait');
        const download = await h.call('GET', `/nodes/${node.name}/gears/${app.gears[0].id}/source`, { token: node.credential });
        assert.ok(download.bytes.equals(V2), 'the node now gets the new archive');

        // The same source again is still a deploy: agents re-fetch and restart.
        assert.equal((await h.ok('POST', '/domains/bobs/apps/web/deploy', { token: bob.token, body: { source: v2.id } })).source.version, 3);
        const events = await h.ok('GET', '/events?kind=app.deployed', { token: bob.token });
        assert.deepEqual(events.items.map((event: { data: { sourceVersion: number } }) => event.data.sourceVersion), [2, 3]);
      }));

    it('serves a gear\'s source only to the node the gear is on', () =>
      withBroker(dialect, async (h) => {
        const { nodes, bob } = await platform(h);
        const source = await upload(h, bob, V1);
        const app = await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', source: source.id }, status: 201 });
        const gear = app.gears[0];
        const owner = nodes.find((each) => each.name === gear.node)!;
        const other = nodes.find((each) => each.name !== gear.node)!;
        const path = `/nodes/${owner.name}/gears/${gear.id}/source`;

        assertApiError(await h.call('GET', path, { token: other.credential }), { status: 403 }, 'another node, as this one');
        assertApiError(await h.call('GET', `/nodes/${other.name}/gears/${gear.id}/source`, { token: other.credential }), { status: 404, code: 'gear_not_found' }, 'another node, as itself');
        assertApiError(await h.call('GET', path, { token: bob.token }), { status: 403 }, 'the app owner');
        assertApiError(await h.call('GET', path, { token: h.admin.token }), { status: 403 }, 'an admin');
        assertApiError(await h.call('GET', path), { status: 401 }, 'no token');
        assertApiError(await h.call('GET', `/nodes/${owner.name}/gears/nosuchgear/source`, { token: owner.credential }), { status: 404, code: 'gear_not_found' });
        assert.equal((await h.call('GET', path, { token: owner.credential })).status, 200);
      }));

    it("refuses another user's source id in create and deploy (404 source_not_found, field source), changing nothing", () =>
      withBroker(dialect, async (h) => {
        const { bob } = await platform(h);
        const carol = await h.createUser('carol');
        const carols = await upload(h, carol, V1);
        await h.ok('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
        const before = await storeState(h.store);

        const create = await h.call('POST', '/domains/bobs/apps', { token: bob.token, body: { name: 'stolen', cartridge: 'nodejs', source: carols.id } });
        assertApiError(create, { status: 404, code: 'source_not_found', field: 'source' });
        const deploy = await h.call('POST', '/domains/bobs/apps/web/deploy', { token: bob.token, body: { source: carols.id } });
        assertApiError(deploy, { status: 404, code: 'source_not_found', field: 'source' });
        assertApiError(await h.call('POST', '/domains/bobs/apps/web/deploy', { token: bob.token, body: { source: 'no-such-source' } }), { status: 404, code: 'source_not_found', field: 'source' });
        assertApiError(await h.call('POST', '/domains/bobs/apps/web/deploy', { token: bob.token, body: {} }), { status: 400, code: 'missing_field', field: 'source' });
        assert.equal(await storeState(h.store), before);
        assert.equal((await h.ok('GET', '/domains/bobs/apps/web', { token: bob.token })).source, null);
      }));

    const badArchives: { name: string; body: Buffer; message: RegExp }[] = [
      { name: 'not gzip', body: Buffer.from('just some text, not an archive'), message: /not gzip/ },
      { name: 'empty body', body: Buffer.alloc(0), message: /empty/ },
      { name: 'gzip of something that is not a tar', body: gzipSync(Buffer.from('hello, this is not a tar archive at all')), message: /not a tar archive/ },
      { name: 'truncated gzip', body: V1.subarray(0, V1.byteLength - 20), message: /not a valid tar\.gz/ },
      { name: 'an entry climbing out with ../', body: tarGz(tarEntry('server.js', 'ok'), tarEntry('../evil.js', 'x')), message: /'\.\.\/evil\.js' leaves the app directory/ },
      { name: 'an absolute path', body: tarGz(tarEntry('/etc/cron.d/evil', 'x')), message: /'\/etc\/cron\.d\/evil' is an absolute path/ },
      { name: 'a device file', body: tarGz(tarEntry('null', '', '3')), message: /'null' is a CharacterDevice/ },
      { name: 'a symlink pointing outside', body: tarGz(tarEntry('etc', '', '2', '/etc')), message: /links to '\/etc'/ },
      { name: 'more than 20000 entries', body: tarGz(...Array.from({ length: 20_001 }, (_, index) => tarEntry(`f${index}`))), message: /more than 20000 entries/ },
    ];
    for (const bad of badArchives) {
      it(`refuses an upload that is ${bad.name}: 400 invalid_source naming body, nothing stored`, () =>
        withBroker(dialect, async (h) => {
          const { bob } = await platform(h);
          const before = await storeState(h.store);
          const result = await h.call('POST', '/sources', { token: bob.token, rawBody: bad.body, headers: GZIP });
          assertApiError(result, { status: 400, code: 'invalid_source', field: 'body' });
          assert.match(result.json.error.message, bad.message);
          assert.deepEqual(await h.store.listSources(), []);
          assert.equal(await storeState(h.store), before);
        }));
    }

    it('refuses an upload over SOURCE_UPLOAD_LIMIT with 413, and other content types', () =>
      withBroker(
        dialect,
        async (h) => {
          const { bob } = await platform(h);
          const big = gzipSync(Buffer.concat([tarEntry('big.bin', Array.from({ length: 4000 }, (_, index) => String.fromCharCode(33 + ((index * 7919) % 90))).join('')), Buffer.alloc(1024)]), { level: 0 });
          assert.ok(big.byteLength > 2048);
          assertApiError(await h.call('POST', '/sources', { token: bob.token, rawBody: big, headers: GZIP }), { status: 413, code: 'body_too_large', field: 'body' });
          assertApiError(await h.call('POST', '/sources', { token: bob.token, body: { archive: 'x' } }), { status: 400, code: 'invalid_source', field: 'Content-Type' });
          assertApiError(await h.call('POST', '/sources', { token: bob.token, rawBody: 'x', headers: { 'content-type': 'text/plain' } }), { status: 400, code: 'invalid_source', field: 'Content-Type' });
          assertApiError(await h.call('POST', '/sources', { rawBody: V1, headers: GZIP }), { status: 401 });
          // application/gzip is for /sources only: other routes do not take archives.
          assertApiError(await h.call('POST', '/domains', { token: bob.token, rawBody: V1, headers: GZIP }), { status: 415 });
          assert.deepEqual(await h.store.listSources(), []);
          // Under the limit it goes through.
          assert.equal((await upload(h, bob, V2)).size, V2.byteLength);
        },
        { env: { SOURCE_UPLOAD_LIMIT: '2048' } },
      ));
  });
}

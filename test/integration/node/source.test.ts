import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';

import { create as createTar } from 'tar';

import { installSourceArchive } from '../../../src/node/source-archive.ts';
import { DOMAIN, fetchText, startNodePlatform, waitFor, type NodePlatform } from './node-platform.ts';

/** A gzipped tar of `files` (path → content). */
async function tarball(files: Record<string, string>): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'geartide-src-'));
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of createTar({ gzip: true, cwd: dir, portable: true }, Object.keys(files))) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A raw tar header+body for one file, to build archives tar's own writer refuses to make. */
function rawTarEntry(name: string, content: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  body.write(content);
  return Buffer.concat([header, body]);
}

describe('installSourceArchive', () => {
  let gear: string;
  before(() => {
    gear = mkdtempSync(join(tmpdir(), 'geartide-gear-'));
    mkdirSync(join(gear, 'app'));
    writeFileSync(join(gear, 'app', 'old.txt'), 'old');
  });
  after(() => rmSync(gear, { recursive: true, force: true }));

  it('replaces app/ with the archive, nested directories included', async () => {
    await installSourceArchive(await tarball({ 'server.js': 'v1', 'public/index.html': '<h1>hi</h1>' }), join(gear, 'app'));
    assert.equal(readFileSync(join(gear, 'app', 'server.js'), 'utf8'), 'v1');
    assert.equal(readFileSync(join(gear, 'app', 'public', 'index.html'), 'utf8'), '<h1>hi</h1>');
    assert.ok(!existsSync(join(gear, 'app', 'old.txt')), 'the previous source is gone');
    assert.ok(!existsSync(join(gear, 'app.next')) && !existsSync(join(gear, 'app.previous')));
  });

  it('leaves the previous source in place when the archive is broken', async () => {
    await assert.rejects(installSourceArchive(gzipSync(Buffer.from('not a tar at all, just text that goes on')), join(gear, 'app')), /could not be extracted/);
    assert.equal(readFileSync(join(gear, 'app', 'server.js'), 'utf8'), 'v1');
  });

  it('never writes outside app/ (a ../ entry)', async () => {
    const evil = gzipSync(Buffer.concat([rawTarEntry('../escaped.txt', 'x'), rawTarEntry('ok.txt', 'fine'), Buffer.alloc(1024)]));
    await installSourceArchive(evil, join(gear, 'app')).catch(() => undefined);
    assert.ok(!existsSync(join(gear, 'escaped.txt')), 'nothing escaped app/');
  });
});

describe('node agent: app source from the broker', () => {
  let platform: NodePlatform;
  before(async () => {
    platform = await startNodePlatform();
  });
  after(() => platform?.close());

  /** POST /sources as the user; returns the new source's id. */
  async function upload(archive: Uint8Array): Promise<string> {
    const response = await fetch(`${platform.brokerUrl}/api/v1/sources`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform.userToken}`, 'content-type': 'application/gzip' },
      body: Buffer.from(archive),
    });
    const text = await response.text();
    assert.equal(response.status, 201, `upload answered ${response.status}: ${text}`);
    return JSON.parse(text).id;
  }

  const server = (label: string) =>
    `require('node:http').createServer((q, s) => s.end('${label} ' + process.env.GEAR_ID)).listen(process.env.PORT, process.env.HOST);\n`;

  it('fetches the app source (sourceVersion) before the first start and runs it, then the next version after a deploy', async () => {
    await platform.startAgent('src');
    const v1 = await upload(await tarball({ 'server.js': server('from source v1'), 'lib/readme.txt': 'nested' }));
    const created = await platform.api('POST', `/domains/${DOMAIN}/apps`, { body: { name: 'srcapp', cartridge: 'nodejs', gears: 1, source: v1 } });
    assert.equal(created.source?.version, 1);

    const [gear] = await waitFor(async () => {
      const gears = await platform.appGears('srcapp');
      return gears[0]?.observedState === 'started' && (await fetchText(gears[0].endpoint))?.text.startsWith('from source v1') && gears;
    }, 'the gear to run the uploaded source', 10_000);
    assert.equal((await fetchText(gear.endpoint))?.text, `from source v1 ${gear.id}`);

    const v2 = await upload(await tarball({ 'server.js': server('from source v2') }));
    const deployed = await platform.api('POST', `/domains/${DOMAIN}/apps/srcapp/deploy`, { body: { source: v2 } });
    assert.equal(deployed.source.version, 2);
    const redeployed = await waitFor(async () => {
      const gears = await platform.appGears('srcapp');
      return gears[0]?.observedState === 'started' && (await fetchText(gears[0].endpoint))?.text.startsWith('from source v2') && gears[0];
    }, 'the gear to restart on the deployed source', 10_000);
    assert.equal(redeployed.id, gear.id, 'the same gear, restarted');
    assert.equal((await fetchText(redeployed.endpoint))?.text, `from source v2 ${gear.id}`);
  });
});

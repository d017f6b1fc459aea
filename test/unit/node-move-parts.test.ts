import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';

import { x as extract } from 'tar';

import { parseDesiredGearSet } from '../../src/node/desired-gear.ts';
import { streamGearArchive } from '../../src/node/gear-archive.ts';
import { diffManifest, parseGearManifest, readGearManifest, refuseArchivePath, type ManifestEntry } from '../../src/node/gear-manifest.ts';
import { CachingMoveTokenVerifier, type MoveTokenVerdict } from '../../src/node/move-token-verifier.ts';

const GEAR = { id: 'g-1', uid: 1000, app: 'hello', appId: 'a1', domain: 'demo', cartridge: 'nodejs', gearProfile: 'small', desiredState: 'started', restartGeneration: 0, sourceVersion: null };
const TARGET = { id: 'm-1', role: 'target', phase: 'copying', source: 'http://127.0.0.1:4100/', token: 'secret' };

describe('parseDesiredGearSet: move', () => {
  it('keeps a target move (source URL without its trailing slash) and ignores unknown move fields', () => {
    const [gear] = parseDesiredGearSet({ items: [{ ...GEAR, move: { ...TARGET, deadline: 'x' } }] }).items;
    assert.deepEqual(gear!.move, { id: 'm-1', role: 'target', phase: 'copying', source: 'http://127.0.0.1:4100', token: 'secret' });
  });
  it('keeps a source move without source or token', () => {
    const [gear] = parseDesiredGearSet({ items: [{ ...GEAR, move: { id: 'm-1', role: 'source', phase: 'target-started' } }] }).items;
    assert.deepEqual(gear!.move, { id: 'm-1', role: 'source', phase: 'target-started' });
  });
  it('keeps a target move whose source is unusable with source "" (the copy fails and says why), rather than refusing the whole list', () => {
    for (const source of ['', 'agent-2', 'file:///etc', undefined]) {
      assert.equal((parseDesiredGearSet({ items: [{ ...GEAR, move: { ...TARGET, source } }] }).items[0]!.move as { source: string }).source, '');
    }
  });
  it('reads a null move as none', () => {
    assert.equal(parseDesiredGearSet({ items: [{ ...GEAR, move: null }] }).items[0]!.move, undefined);
  });
  const BAD: Record<string, unknown> = {
    'an unknown role': { ...TARGET, role: 'witness' },
    'an unknown phase': { ...TARGET, phase: 'teleporting' },
    'a target without token': { ...TARGET, token: undefined },
    'a move id that is a path': { ...TARGET, id: '../x' },
  };
  for (const [name, move] of Object.entries(BAD)) it(`refuses ${name}`, () => assert.throws(() => parseDesiredGearSet({ items: [{ ...GEAR, move }] }), TypeError));
});

describe('gear manifest', () => {
  let root: string;
  let outside: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'geartide-manifest-'));
    outside = mkdtempSync(join(tmpdir(), 'geartide-outside-'));
    writeFileSync(join(outside, 'secret'), 'no');
    for (const dir of ['app', 'data/sub', 'log']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'gear.json'), '{}');
    writeFileSync(join(root, 'log', 'gear.log'), 'x');
    writeFileSync(join(root, 'app', 'server.js'), 'js');
    writeFileSync(join(root, 'data', 'sub', 'a.txt'), 'aaa');
    symlinkSync(outside, join(root, 'data', 'escape'));
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('lists the gear, parents first, symlinks as links, without gear.json and log/', () => {
    const files = readGearManifest(root).files;
    assert.deepEqual(files.map((entry) => `${entry.type}:${entry.path}`), ['dir:app', 'file:app/server.js', 'dir:data', 'symlink:data/escape', 'dir:data/sub', 'file:data/sub/a.txt']);
    assert.equal(files.find((entry) => entry.path === 'data/sub/a.txt')!.size, 3);
  });

  const REFUSED: Record<string, unknown> = {
    'an absolute path': '/etc/passwd',
    'a parent step': '../other-gear/data',
    'a parent step inside': 'data/../gear.json',
    'gear.json': 'gear.json',
    'the log': 'log/gear.log',
    'a path through a symlinked directory': 'data/escape/secret',
    'a dot segment': './data',
    'a non-string': 42,
  };
  for (const [name, path] of Object.entries(REFUSED)) it(`refuses to serve ${name}`, () => assert.notEqual(refuseArchivePath(root, path), null));
  it('serves gear paths, a symlink itself included', () => {
    for (const path of ['app', 'data/sub/a.txt', 'data/escape']) assert.equal(refuseArchivePath(root, path), null, path);
  });

  it('diffs what a copy holds against a newer manifest: changed parents first, removed deepest first', () => {
    const entry = (path: string, size = 1, type: ManifestEntry['type'] = 'file'): ManifestEntry => ({ path, type, size, mtimeMs: 1, mode: 0o644 });
    const have = new Map([entry('data', 0, 'dir'), entry('data/a'), entry('data/old', 0, 'dir'), entry('data/old/x')].map((item) => [item.path, item]));
    const diff = diffManifest(have, { files: [entry('data', 0, 'dir'), entry('data/a', 2), entry('data/b')] });
    assert.deepEqual(diff.changed.map((item) => item.path), ['data/a', 'data/b']);
    assert.deepEqual(diff.removed, ['data/old/x', 'data/old']);
  });

  it('refuses a manifest from the wire with a path a copy may not write', () => {
    for (const path of ['../x', '/abs', 'gear.json', 'log/gear.log', 'a//b']) {
      assert.throws(() => parseGearManifest({ files: [{ path, type: 'file', size: 1, mtimeMs: 1, mode: 0o644 }] }), TypeError, path);
    }
  });
});

describe('CachingMoveTokenVerifier', () => {
  it('asks the broker once per move, refuses another token for a known move without asking, and does not cache refusals', async () => {
    const calls: string[] = [];
    const answers: Record<string, MoveTokenVerdict> = { 'm1:good': { ok: true, gearId: 'g1' } };
    const verifier = new CachingMoveTokenVerifier(async (moveId, token) => {
      calls.push(`${moveId}:${token}`);
      return answers[`${moveId}:${token}`] ?? { ok: false, reason: 'refused', detail: '403' };
    });
    assert.deepEqual(await verifier.verify('m1', 'good'), { ok: true, gearId: 'g1' });
    assert.deepEqual(await verifier.verify('m1', 'good'), { ok: true, gearId: 'g1' });
    assert.equal((await verifier.verify('m1', 'bad')).ok, false);
    assert.equal((await verifier.verify('m2', 'bad')).ok, false);
    assert.equal((await verifier.verify('m2', 'bad')).ok, false);
    assert.deepEqual(calls, ['m1:good', 'm2:bad', 'm2:bad']);
  });
});

describe('streamGearArchive', () => {
  it('writes a tar that tar reads back: nested and long paths, modes, a symlink as a link, a vanished path left out', async () => {
    const from = mkdtempSync(join(tmpdir(), 'geartide-archive-from-'));
    const to = mkdtempSync(join(tmpdir(), 'geartide-archive-to-'));
    try {
      const long = `data/${'d'.repeat(60)}/${'f'.repeat(70)}.txt`;
      mkdirSync(join(from, 'data', 'd'.repeat(60)), { recursive: true });
      writeFileSync(join(from, long), 'long path');
      writeFileSync(join(from, 'data', 'run.sh'), '#!/bin/sh\n', { mode: 0o750 });
      writeFileSync(join(from, 'data', 'big.bin'), Buffer.alloc(300_000, 1));
      symlinkSync('run.sh', join(from, 'data', 'link'));
      const paths = ['data', `data/${'d'.repeat(60)}`, long, 'data/run.sh', 'data/big.bin', 'data/link', 'data/gone'];
      await pipeline(Readable.from(streamGearArchive(from, paths)), extract({ cwd: to, strict: true, chmod: true, processUmask: 0 }));
      const copied = readGearManifest(to).files.map((entry) => `${entry.type}:${entry.path}:${entry.size}:${(entry.mode & 0o777).toString(8)}`);
      const original = readGearManifest(from).files.map((entry) => `${entry.type}:${entry.path}:${entry.size}:${(entry.mode & 0o777).toString(8)}`);
      assert.deepEqual(copied.filter((line) => !line.startsWith('dir:')), original.filter((line) => !line.startsWith('dir:')));
      assert.equal(readFileSync(join(to, long), 'utf8'), 'long path');
    } finally {
      rmSync(from, { recursive: true, force: true });
      rmSync(to, { recursive: true, force: true });
    }
  });
});

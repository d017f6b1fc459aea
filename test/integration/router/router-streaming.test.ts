// Bodies are streamed both ways, not buffered: each test holds one side until the other has seen
// the first bytes, which would deadlock (and time out) if the router waited for a whole body.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';

import { request } from 'undici';

import { createRouterLogger, startRouter, type RunningRouter } from '../../../src/router/router.ts';
import { StaticRouteSource } from '../../../src/router/static-route-source.ts';
import { startGearBackend, type GearBackend } from './gear-backends.ts';

const CHUNK = Buffer.alloc(1024 * 1024, 'x');
const CHUNKS = 64; // 64 MiB each way

let router: RunningRouter;
let gear: GearBackend;
let sawFirstUploadChunk: () => void = () => undefined;

before(async () => {
  gear = await startGearBackend('stream-gear', (incoming, response, backend) => {
    if (incoming.url === '/download') {
      // The first MiB, then the rest only when the client has released the gate.
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.write(CHUNK);
      backend.gates.set('download', () => {
        let sent = 1;
        const pump = () => {
          while (sent < CHUNKS) {
            sent++;
            if (!response.write(CHUNK)) return void response.once('drain', pump);
          }
          response.end();
        };
        pump();
      });
      return true;
    }
    if (incoming.url === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      incoming.on('data', (chunk: Buffer) => {
        if (bytes === 0) sawFirstUploadChunk();
        bytes += chunk.length;
        hash.update(chunk);
      });
      incoming.on('end', () => response.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      return true;
    }
    return false;
  });
  const source = new StaticRouteSource({ items: [{ host: 'stream-demo.localhost', app: 'stream', domain: 'demo', desiredState: 'started', endpoints: [gear.endpoint] }] });
  router = await startRouter({ source, log: createRouterLogger('silent') });
});
after(async () => {
  await router.close();
  await gear.stop();
});

test('a large response streams to the client as the gear writes it', async () => {
  const response = await request(`${router.url}/download`, { headers: { host: 'stream-demo.localhost' } });
  assert.equal(response.statusCode, 200);
  let bytes = 0;
  for await (const chunk of response.body) {
    if (bytes === 0) gear.gates.get('download')!();
    bytes += (chunk as Buffer).length;
  }
  assert.equal(bytes, CHUNKS * CHUNK.length);
});

test('a large request body streams to the gear as the client sends it', async () => {
  const firstSeen = new Promise<void>((resolve) => (sawFirstUploadChunk = resolve));
  const expected = createHash('sha256');
  async function* body() {
    yield CHUNK;
    expected.update(CHUNK);
    // Hold the rest until the gear has the first MiB: a buffering router never forwards it.
    await firstSeen;
    for (let sent = 1; sent < CHUNKS; sent++) {
      expected.update(CHUNK);
      yield CHUNK;
    }
  }
  const response = await request(`${router.url}/upload`, { method: 'PUT', headers: { host: 'stream-demo.localhost' }, body: Readable.from(body()) });
  const result = JSON.parse(await response.body.text()) as { bytes: number; sha256: string };
  assert.equal(response.statusCode, 200);
  assert.deepEqual(result, { bytes: CHUNKS * CHUNK.length, sha256: expected.digest('hex') });
});

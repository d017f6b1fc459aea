import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import pino from 'pino';

import { startNodeAgent } from '../../../src/node/node-agent.ts';
import { BOOTSTRAP, startNodePlatform, waitFor, type NodePlatform } from './node-platform.ts';

function credentialOf(stateDir: string): string {
  return JSON.parse(readFileSync(join(stateDir, 'credential.json'), 'utf8')).credential;
}

describe('node agent: registration and credentials', () => {
  let platform: NodePlatform;
  before(async () => {
    platform = await startNodePlatform();
  });
  after(() => platform?.close());

  const registrations = async (node: string) =>
    (await platform.api('GET', '/events?kind=node.registered', { token: platform.adminToken })).items.filter((event: { subject: string }) => event.subject === `node:${node}`).length;
  const heartbeatAfter = (node: string, time: number) =>
    waitFor(async () => Date.parse((await platform.api('GET', `/nodes/${node}`, { token: platform.adminToken })).lastHeartbeatAt ?? 0) > time, `a heartbeat from ${node}`);

  it('stores its credential 0600, reuses it on restart, and registers again when the broker refuses it (401)', async () => {
    let agent = await platform.startAgent('cred', { profile: 'small', maxActiveGears: 7, scaleEventId: 'scale-42' });
    const node = await platform.api('GET', '/nodes/cred', { token: platform.adminToken });
    assert.equal(node.maxActiveGears, 7);
    assert.equal(node.scaleEventId, 'scale-42');
    assert.equal(node.district, 'east');
    assert.equal(node.endpoint, agent.url);
    const file = join(agent.stateDir, 'credential.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const first = credentialOf(agent.stateDir);
    assert.match(first, /^gtn_/);
    await agent.stop();

    // A plain restart on the same endpoint: same credential, no new registration.
    const port = new URL(agent.url).port;
    agent = await platform.startAgent('cred', { maxActiveGears: 7, listen: `127.0.0.1:${port}` });
    await heartbeatAfter('cred', Date.now());
    assert.equal(credentialOf(agent.stateDir), first);
    assert.equal(await registrations('cred'), 1);
    await agent.stop();

    // A restart on another port registers again, so the broker knows where the agent is now.
    agent = await platform.startAgent('cred', { maxActiveGears: 7 });
    assert.notEqual(new URL(agent.url).port, port);
    assert.equal((await platform.api('GET', '/nodes/cred', { token: platform.adminToken })).endpoint, agent.url);
    assert.equal(await registrations('cred'), 2);
    const second = credentialOf(agent.stateDir);
    assert.notEqual(second, first);
    await agent.stop();

    // Someone else registers the name: the stored credential is rotated away, the broker answers 401.
    await platform.api('POST', '/nodes/register', { token: BOOTSTRAP, body: { name: 'cred', gearProfile: 'small', maxActiveGears: 7 }, status: 201 });
    agent = await platform.startAgent('cred', { maxActiveGears: 7, listen: new URL(agent.url).host });
    await heartbeatAfter('cred', Date.now());
    assert.notEqual(credentialOf(agent.stateDir), second);
    assert.equal(await registrations('cred'), 4);
    await agent.stop();
  });

  it('refuses to start with a wrong bootstrap token, naming the cause, and leaves no lock behind', async () => {
    await assert.rejects(platform.startAgent('bad', { bootstrapToken: 'wrong-token-0123456789' }), (error: { status?: number }) => error.status === 401 || error.status === 403);
    await assert.rejects(platform.startAgent('bad', { district: 'nowhere' }), (error: { status?: number; message: string }) => error.status === 404 && /nowhere/.test(error.message));
  });

  it('refuses a second agent on the same state directory', async () => {
    const agent = await platform.startAgent('solo');
    await assert.rejects(platform.startAgent('solo'), /another node agent/);
    await agent.stop();
  });
});

describe('node agent: a broker that is down', () => {
  it('keeps running and registers once the broker comes up', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as { port: number };
        server.close(() => resolve(free));
      });
    });
    const stateDir = mkdtempSync(join(tmpdir(), 'geartide-node-early-'));
    const agent = await startNodeAgent({ brokerUrl: `http://127.0.0.1:${port}`, bootstrapToken: BOOTSTRAP, name: 'early', stateDir, log: pino({ level: 'silent' }) });
    let platform: NodePlatform | undefined;
    try {
      assert.equal((await (await fetch(`${agent.url}/health`)).json()).status, 'ok');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      platform = await startNodePlatform({ BROKER_PORT: String(port) });
      // Backoff between tries is at most the heartbeat interval (1 s here).
      await waitFor(async () => (await platform!.api('GET', '/nodes/early', { token: platform!.adminToken, status: undefined }))?.lastHeartbeatAt, 'the agent to register and heartbeat', 10_000);
    } finally {
      await agent.stop();
      await platform?.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

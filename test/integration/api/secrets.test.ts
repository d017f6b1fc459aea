/**
 * Tokens and node credentials are shown once, in the response that creates them, and nowhere
 * else: not in any list or show response, not in events, not in the broker's log (even at
 * trace level, even when a request fails with a 500).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';

import pino from 'pino';

import { BOOTSTRAP_TOKEN, withBroker, type BrokerHarness } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

function assertNoSecret(where: string, text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `${where} contains the secret ${secret.slice(0, 8)}…`);
    // Also no recognisable part of it (a log that cuts tokens in half would still leak them).
    assert.ok(!text.includes(secret.slice(-20)), `${where} contains the end of the secret ${secret.slice(0, 8)}…`);
  }
}

/** GET every list and show endpoint as `token` and return the bodies. */
async function readEverything(h: BrokerHarness, token: string): Promise<Record<string, string>> {
  const bodies: Record<string, string> = {};
  for (const path of [
    '/user',
    '/users',
    '/user/tokens',
    '/domains',
    '/domains/bobs',
    '/domains/bobs/apps',
    '/domains/bobs/apps/web',
    '/apps',
    '/districts',
    '/districts/east',
    '/nodes',
    '/nodes/node1',
    '/nodes/node1/gears',
    '/events?limit=1000',
    '/openapi.json',
    '/health',
  ]) {
    bodies[path] = (await h.call('GET', path, { token })).text;
  }
  return bodies;
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: secrets`, { skip: storeSkipReason(dialect) }, () => {
    const capture = new LogCapture();
    it('no token or credential appears in any list/show response, event or log line of a whole session', () =>
      withBroker(
        dialect,
        async (h) => {
          const secrets: string[] = [h.admin.token, BOOTSTRAP_TOKEN];
          const bob = await h.createUser('bob');
          const carol = await h.createUser('carol', { role: 'admin' });
          secrets.push(bob.token, carol.token);
          const extra = await h.ok('POST', '/user/tokens', { token: bob.token, body: { name: 'laptop', expiresInSeconds: 3600 }, status: 201 });
          secrets.push(extra.token);
          await h.createDomain(bob, 'bobs');
          await h.createDistrict('east');
          const [node1] = await h.registerNodes(1, { district: 'east' });
          secrets.push(node1!.credential);
          const reregistered = await h.ok('POST', '/nodes/register', { token: BOOTSTRAP_TOKEN, body: { name: 'node1', gearProfile: 'small', maxActiveGears: 10 }, status: 201 });
          secrets.push(reregistered.credential);
          const app = await h.ok('POST', '/domains/bobs/apps', { token: extra.token, body: { name: 'web', cartridge: 'nodejs', gears: 2 }, status: 201 });
          await h.ok('POST', '/nodes/node1/heartbeat', { token: reregistered.credential, body: { maxActiveGears: 10, gears: { started: 2, idle: 0, stopped: 0, unknown: 0 } } });
          assert.equal((await h.call('PUT', `/nodes/node1/gears/${app.gears[0].id}`, { token: reregistered.credential, body: { observedState: 'started', endpoint: '10.0.0.1:35000' } })).status, 204);

          // Refused requests carrying secrets: an old credential, a token in the wrong place,
          // a malformed header, a token in a body field, a secret in a URL.
          await h.call('POST', '/nodes/node1/heartbeat', { token: node1!.credential, body: {} });
          await h.call('GET', '/user', { headers: { authorization: `Token ${bob.token}` } });
          await h.call('POST', '/domains', { token: bob.token, body: { name: bob.token } });
          await h.call('POST', '/users', { token: h.admin.token, body: { login: 'eve', password: extra.token } });
          await h.call('GET', `/domains/${extra.token}`, { token: bob.token });
          await h.call('POST', '/nodes/register', { token: bob.token, body: { name: 'x', gearProfile: 'small', maxActiveGears: 1 } });

          // A failure inside a handler (the store breaks) is logged at error level with the
          // details, and answered with a generic 500: neither may carry the caller's token.
          const store = h.store as { listDomains: (...args: unknown[]) => Promise<unknown> };
          const original = store.listDomains;
          store.listDomains = async () => {
            throw new Error('database connection lost');
          };
          const failed = await h.call('GET', '/domains', { token: bob.token });
          store.listDomains = original;
          assert.equal(failed.status, 500);
          assert.deepEqual(failed.json, { error: { code: 'internal', message: 'internal error; the broker log has the details' } });
          assert.match(capture.text, /database connection lost/, 'the 500 is logged with its cause');

          await h.call('DELETE', `/user/tokens/${extra.id}`, { token: bob.token });
          await h.call('GET', '/user', { token: extra.token });

          for (const token of [h.admin.token, bob.token, carol.token]) {
            for (const [path, body] of Object.entries(await readEverything(h, token))) assertNoSecret(`GET ${path}`, body, secrets);
          }
          for (const path of ['/nodes/node1/gears']) assertNoSecret(`GET ${path} as the node`, (await h.call('GET', path, { token: reregistered.credential })).text, secrets);

          // Per-request lines are off (disableRequestLogging), so the log holds the error path;
          // the check still guards every line any future logging adds.
          assert.ok(capture.text.includes('"level":50'), 'the log captured the session');
          assertNoSecret('the broker log', capture.text, secrets);
        },
        { log: pino({ level: 'trace' }, capture) },
      ));
  });
}

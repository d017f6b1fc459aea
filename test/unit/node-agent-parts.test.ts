import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';

import { AgentHttpRouter } from '../../src/node/agent-http-router.ts';
import { parseDesiredGearSet } from '../../src/node/desired-gear.ts';
import { parseListenAddress } from '../../src/node/listen-address.ts';

const GEAR = { id: 'g-1', uid: 1000, app: 'hello', appId: 'a1', domain: 'demo', cartridge: 'nodejs', gearProfile: 'small', desiredState: 'started', restartGeneration: 2, sourceVersion: 7 };

describe('parseDesiredGearSet', () => {
  it('keeps the contract fields and ignores extra ones (observedState, endpoint)', () => {
    const set = parseDesiredGearSet({ version: 'v1', items: [{ ...GEAR, observedState: 'started', endpoint: '127.0.0.1:1' }] });
    assert.deepEqual(set, { version: 'v1', items: [GEAR] });
  });
  it('reads a list without version (older brokers) and a missing sourceVersion as null', () => {
    const { sourceVersion: _omitted, ...withoutSource } = GEAR;
    assert.deepEqual(parseDesiredGearSet({ items: [withoutSource] }), { version: null, items: [{ ...GEAR, sourceVersion: null }] });
  });
  const BAD: Record<string, unknown> = {
    'not an object': 'x',
    'no items': { version: 'v' },
    'an unknown desired state': { items: [{ ...GEAR, desiredState: 'idle' }] },
    'a gear id that is a path': { items: [{ ...GEAR, id: '../etc' }] },
    'a fractional uid': { items: [{ ...GEAR, uid: 1.5 }] },
    'a string sourceVersion': { items: [{ ...GEAR, sourceVersion: '7' }] },
    'an empty app name': { items: [{ ...GEAR, app: '' }] },
  };
  for (const [name, body] of Object.entries(BAD)) it(`refuses ${name}`, () => assert.throws(() => parseDesiredGearSet(body), TypeError));
});

describe('parseListenAddress', () => {
  const TABLE: Record<string, { text: string; want?: { host: string; port: number } }> = {
    'host and port': { text: '127.0.0.1:0', want: { host: '127.0.0.1', port: 0 } },
    'bracketed IPv6': { text: '[::1]:8080', want: { host: '::1', port: 8080 } },
    'all interfaces': { text: ':9000', want: { host: '0.0.0.0', port: 9000 } },
    'no port': { text: 'localhost' },
    'port out of range': { text: 'h:70000' },
  };
  for (const [name, row] of Object.entries(TABLE)) {
    it(name, () => (row.want ? assert.deepEqual(parseListenAddress(row.text), row.want) : assert.throws(() => parseListenAddress(row.text), (error: { field?: string }) => error.field === 'listen')));
  }
});

describe('AgentHttpRouter', () => {
  it('routes by method and path with parameters, 404 and 405 otherwise, 500 on a throwing handler', async () => {
    const router = new AgentHttpRouter()
      .add('GET', '/health', () => ({ status: 200, json: { status: 'ok' } }))
      .add('GET', '/gears/:id/snapshot', (request) => ({ status: 200, json: { id: request.params.id } }))
      .add('POST', '/boom', () => {
        throw new Error('kaput');
      });
    const server = createServer(router.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const call = async (method: string, path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
      return { status: response.status, json: await response.json() };
    };
    try {
      assert.deepEqual(await call('GET', '/health'), { status: 200, json: { status: 'ok' } });
      assert.deepEqual(await call('GET', '/gears/abc-1/snapshot'), { status: 200, json: { id: 'abc-1' } });
      assert.equal((await call('GET', '/gears/abc-1')).status, 404);
      assert.equal((await call('DELETE', '/health')).status, 405);
      const boom = await call('POST', '/boom');
      assert.equal(boom.status, 500);
      assert.equal(boom.json.error.message, 'kaput');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

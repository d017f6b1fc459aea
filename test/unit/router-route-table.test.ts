import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseEndpoint } from '../../src/router/endpoint-address.ts';
import { indexRoutes } from '../../src/router/route-index.ts';
import { parseRouteTable } from '../../src/router/route-table-parser.ts';

const item = { host: 'Hello-Demo.localhost', app: 'hello', domain: 'demo', desiredState: 'started', endpoints: ['127.0.0.1:41234'] };

test('route table: a good table parses, hosts lower-cased, numeric version as text', () => {
  assert.deepEqual(parseRouteTable({ version: 7, items: [item] }, 'localhost'), { version: '7', items: [{ ...item, host: 'hello-demo.localhost' }] });
});

test('route table: an item without host gets <app>-<domain>.<cloud domain>', () => {
  const { host: _host, ...withoutHost } = item;
  assert.equal(parseRouteTable({ version: '1', items: [withoutHost] }, 'apps.example.com').items[0]!.host, 'hello-demo.apps.example.com');
});

const bad: Record<string, { body: unknown; field: string }> = {
  'not an object': { body: [], field: 'body' },
  'no version': { body: { items: [] }, field: 'version' },
  'no items': { body: { version: '1' }, field: 'items' },
  'unknown desired state': { body: { version: '1', items: [{ ...item, desiredState: 'idle' }] }, field: 'items[0].desiredState' },
  'endpoints not strings': { body: { version: '1', items: [{ ...item, endpoints: [41234] }] }, field: 'items[0].endpoints' },
  'missing app': { body: { version: '1', items: [{ ...item, app: '' }] }, field: 'items[0].app' },
};
for (const [name, { body, field }] of Object.entries(bad)) {
  test(`route table: refused when ${name}, naming ${field}`, () => {
    assert.throws(() => parseRouteTable(body, 'localhost'), (error: { field?: string }) => error.field === field);
  });
}

const endpoints: Record<string, { endpoint: string; want: ReturnType<typeof parseEndpoint> }> = {
  'IPv4 and port': { endpoint: '127.0.0.1:41234', want: { endpoint: '127.0.0.1:41234', host: '127.0.0.1', port: 41234 } },
  'bracketed IPv6': { endpoint: '[::1]:8080', want: { endpoint: '[::1]:8080', host: '::1', port: 8080 } },
  'host name': { endpoint: 'node-3.internal:35001', want: { endpoint: 'node-3.internal:35001', host: 'node-3.internal', port: 35001 } },
  'no port': { endpoint: '127.0.0.1', want: undefined },
  'port 0': { endpoint: '127.0.0.1:0', want: undefined },
  'port too large': { endpoint: '127.0.0.1:70000', want: undefined },
  'not a number': { endpoint: '127.0.0.1:http', want: undefined },
};
for (const [name, { endpoint, want }] of Object.entries(endpoints)) {
  test(`endpoint address: ${name}`, () => assert.deepEqual(parseEndpoint(endpoint), want));
}

test('route index: a route keeps its cursor when its endpoints did not change, and restarts when they did', () => {
  const table = (version: string, helloEndpoints: string[]) => ({
    version,
    items: [
      { host: 'hello-demo.localhost', app: 'hello', domain: 'demo', desiredState: 'started' as const, endpoints: helloEndpoints },
      { host: 'other-demo.localhost', app: 'other', domain: 'demo', desiredState: 'started' as const, endpoints: ['127.0.0.1:3'] },
    ],
  });
  const first = indexRoutes(table('1', ['127.0.0.1:1', '127.0.0.1:2']), undefined);
  first.get('hello-demo.localhost')!.cursor = 5;
  first.get('other-demo.localhost')!.cursor = 3;
  const second = indexRoutes({ ...table('2', ['127.0.0.1:1', '127.0.0.1:2']), items: [table('2', ['127.0.0.1:1', '127.0.0.1:2']).items[0]!, { ...table('2', []).items[1]!, endpoints: ['127.0.0.1:4'] }] }, first);
  assert.equal(second.get('hello-demo.localhost')!.cursor, 5);
  assert.equal(second.get('other-demo.localhost')!.cursor, 0);
  assert.equal(second.get('hello-demo.localhost')!.name, 'hello-demo');
});

test('route index: unparseable endpoints are left out', () => {
  const index = indexRoutes({ version: '1', items: [{ host: 'h', app: 'a', domain: 'd', desiredState: 'started', endpoints: ['nope', '127.0.0.1:9'] }] }, undefined);
  assert.deepEqual(index.get('h')!.endpoints, ['127.0.0.1:9']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backendRequestHeaders, responseHeaderList, stripHopByHop } from '../../src/router/forwarded-headers.ts';

const FACTS = { clientIp: '10.0.0.9', host: 'hello-demo.localhost:7481', proto: 'http', port: '7481' } as const;
const FORWARDED = ['X-Forwarded-Host', 'hello-demo.localhost:7481', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Port', '7481'];

const requestCases: Record<string, { raw: string[]; want: string[] }> = {
  'plain request: Host kept, X-Forwarded-* added': {
    raw: ['Host', 'hello-demo.localhost:7481', 'Accept', '*/*'],
    want: ['Host', 'hello-demo.localhost:7481', 'Accept', '*/*', 'X-Forwarded-For', '10.0.0.9', ...FORWARDED],
  },
  'an existing X-Forwarded-For is appended to, several lines folded': {
    raw: ['Host', 'h', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2, 3.3.3.3'],
    want: ['Host', 'h', 'X-Forwarded-For', '1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9', ...FORWARDED],
  },
  "the client's X-Forwarded-Host/-Proto/-Port are replaced": {
    raw: ['Host', 'h', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil.example', 'X-Forwarded-Port', '443'],
    want: ['Host', 'h', 'X-Forwarded-For', '10.0.0.9', ...FORWARDED],
  },
  'hop-by-hop headers and those Connection names are removed': {
    raw: ['Host', 'h', 'Connection', 'keep-alive, X-Hop', 'Keep-Alive', 'timeout=5', 'X-Hop', '1', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Authorization', 'Basic x', 'Cookie', 'a=1', 'Cookie', 'b=2'],
    want: ['Host', 'h', 'Cookie', 'a=1', 'Cookie', 'b=2', 'X-Forwarded-For', '10.0.0.9', ...FORWARDED],
  },
};

for (const [name, { raw, want }] of Object.entries(requestCases)) {
  test(`request headers: ${name}`, () => assert.deepEqual(backendRequestHeaders(raw, FACTS), want));
}

test('response headers: hop-by-hop and Connection-listed removed, Set-Cookie array kept', () => {
  const headers = { 'content-type': 'text/plain', connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'x-hop': '1', 'transfer-encoding': 'chunked', 'set-cookie': ['a=1', 'b=2'] };
  assert.deepEqual(stripHopByHop(headers), { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
});

test('request headers: Expect is answered by the router, not forwarded', () => {
  assert.deepEqual(backendRequestHeaders(['Host', 'h', 'Expect', '100-continue'], FACTS), ['Host', 'h', 'X-Forwarded-For', '10.0.0.9', ...FORWARDED]);
});

test('response header list: the headers stripHopByHop keeps, in order, as writeHead takes them', () => {
  const headers = () => ({ 'content-type': 'text/plain', connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'x-hop': '1', 'transfer-encoding': 'chunked', 'set-cookie': ['a=1', 'b=2'], date: 'd' });
  assert.deepEqual(responseHeaderList(headers()), ['content-type', 'text/plain', 'set-cookie', ['a=1', 'b=2'], 'date', 'd']);
  assert.deepEqual(responseHeaderList(headers()), Object.entries(stripHopByHop(headers())).flat());
  assert.deepEqual(responseHeaderList({ connection: 'keep-alive', 'keep-alive': 'timeout=5', 'content-length': '2' }), ['content-length', '2']);
  assert.deepEqual(responseHeaderList({ connection: 'close', close: 'x', 'x-a': '1' }), ['x-a', '1']);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseFrontRequest } from '../../src/router/front-request-parser.ts';

describe('front request parser: accepted', () => {
  test('a plain GET: method, target, raw headers (values trimmed), Host, keep-alive', () => {
    assert.deepEqual(parseFrontRequest('GET /a/b?c=1&d=%20e HTTP/1.1\r\nHost: hello-demo.localhost:8080\r\nAccept:  */*  \r\nX-Empty:\r\nUser-Agent: t\tab'), {
      method: 'GET',
      target: '/a/b?c=1&d=%20e',
      rawHeaders: ['Host', 'hello-demo.localhost:8080', 'Accept', '*/*', 'X-Empty', '', 'User-Agent', 't\tab'],
      host: 'hello-demo.localhost:8080',
      keepAlive: true,
    });
  });

  test('Connection: close (in any case, or among other tokens) ends keep-alive', () => {
    assert.equal(parseFrontRequest('GET / HTTP/1.1\r\nhost: h\r\nConnection: Close')?.keepAlive, false);
    assert.equal(parseFrontRequest('GET / HTTP/1.1\r\nhost: h\r\nConnection: x-hop, close')?.keepAlive, false);
    assert.equal(parseFrontRequest('GET / HTTP/1.1\r\nhost: h\r\nConnection: keep-alive, x-hop')?.keepAlive, true);
  });

  test('body-less methods, and Content-Length: 0', () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) assert.equal(parseFrontRequest(`${method} / HTTP/1.1\r\nHost: h`)?.method, method);
    assert.ok(parseFrontRequest('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0') !== undefined);
  });
});

describe('front request parser: declined (node:http answers)', () => {
  const declined: Record<string, string> = {
    'HTTP/1.0': 'GET / HTTP/1.0\r\nHost: h',
    'HTTP/2 preface': 'PRI * HTTP/2.0\r\n\r\nSM',
    'lower-case version': 'GET / http/1.1\r\nHost: h',
    'an unknown method': 'PURGE / HTTP/1.1\r\nHost: h',
    'a lower-case method': 'get / HTTP/1.1\r\nHost: h',
    'CONNECT': 'CONNECT h:443 HTTP/1.1\r\nHost: h:443',
    'TRACE': 'TRACE / HTTP/1.1\r\nHost: h',
    'an absolute-form target': 'GET http://h/ HTTP/1.1\r\nHost: h',
    'an asterisk target': 'OPTIONS * HTTP/1.1\r\nHost: h',
    'a space in the target': 'GET /a b HTTP/1.1\r\nHost: h',
    'two spaces before the target': 'GET  / HTTP/1.1\r\nHost: h',
    'a fragment': 'GET /a#b HTTP/1.1\r\nHost: h',
    'brackets in the target': 'GET /?a[]=1 HTTP/1.1\r\nHost: h',
    'a non-ASCII target': 'GET /\xe9 HTTP/1.1\r\nHost: h',
    'no Host': 'GET / HTTP/1.1\r\nAccept: */*',
    'two Host headers': 'GET / HTTP/1.1\r\nHost: a\r\nHost: b',
    'a body length': 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5',
    'a zero length spelt 00': 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 00',
    'two zero lengths': 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0',
    'chunked': 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked',
    'Expect': 'PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue',
    'Upgrade': 'GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket',
    'Connection: upgrade without Upgrade': 'GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade',
    'a Connection value that is not tokens': 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close;x',
    'a space before the colon': 'GET / HTTP/1.1\r\nHost : h',
    'a header line without a colon': 'GET / HTTP/1.1\r\nHost: h\r\nBroken',
    'a folded header line': 'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2',
    'a bare LF inside a line': 'GET / HTTP/1.1\r\nHost: h\nX-A: 1',
    'a bare CR inside a value': 'GET / HTTP/1.1\r\nHost: h\rX-A: 1',
    'a control character in a value': 'GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b',
    'obs-text in a value': 'GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xe9',
    'a non-token header name': 'GET / HTTP/1.1\r\nHost: h\r\nX(A): 1',
    'a head beyond 8 KiB': `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'x'.repeat(8_200)}`,
    'more than 64 header lines': `GET / HTTP/1.1\r\nHost: h${'\r\nX-A: 1'.repeat(64)}`,
    'leading empty line': '\r\nGET / HTTP/1.1\r\nHost: h',
  };
  for (const [name, head] of Object.entries(declined)) {
    test(name, () => assert.equal(parseFrontRequest(head), undefined));
  }
});

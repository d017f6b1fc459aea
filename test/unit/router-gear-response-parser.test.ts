import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { GearResponseParser, type GearResponseHead, type GearResponseSink } from '../../src/router/gear-response-parser.ts';

/** What the parser reported, in order. */
type Event = ['head', GearResponseHead] | ['body', string, boolean] | ['complete', boolean] | ['malformed', string];

class Recorder implements GearResponseSink {
  readonly events: Event[] = [];
  onResponseHead(head: GearResponseHead): void {
    this.events.push(['head', head]);
  }
  onResponseBody(chunk: Buffer, last: boolean): void {
    this.events.push(['body', chunk.toString('latin1'), last]);
  }
  onResponseComplete(reusable: boolean): void {
    this.events.push(['complete', reusable]);
  }
  onResponseMalformed(reason: string): void {
    this.events.push(['malformed', reason]);
  }
  /** Body chunks joined, for cases fed byte by byte. */
  body(): string {
    return this.events.map((event) => (event[0] === 'body' ? event[1] : '')).join('');
  }
  last(): Event | undefined {
    return this.events[this.events.length - 1];
  }
}

function parse(response: string, options: { head?: boolean; split?: 'bytes' | 'whole'; maxHeadSize?: number } = {}): { recorder: Recorder; parser: GearResponseParser } {
  const recorder = new Recorder();
  const parser = new GearResponseParser(recorder, options.maxHeadSize ?? 16_384);
  parser.expect(options.head ?? false);
  const bytes = Buffer.from(response, 'latin1');
  if (options.split === 'bytes') {
    for (let at = 0; at < bytes.length; at++) {
      // A fresh buffer each time, overwritten after the call: what is kept must have been copied.
      const chunk = Buffer.from(bytes.subarray(at, at + 1));
      parser.execute(chunk);
      chunk.fill(0);
    }
  } else {
    parser.execute(bytes);
  }
  return { recorder, parser };
}

const head = (status: number, reason: string, headers: string[]): Event => ['head', { status, reason, headers }];

describe('gear response parser: framing', () => {
  test('Content-Length: head, then the body as the last chunk, reusable', () => {
    const { recorder } = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
    assert.deepEqual(recorder.events, [head(200, 'OK', ['Content-Type', 'text/plain', 'Content-Length', '5']), ['body', 'hello', true], ['complete', true]]);
  });

  test('the same response fed one byte at a time', () => {
    const { recorder } = parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', { split: 'bytes' });
    assert.deepEqual(recorder.events[0], head(200, 'OK', ['Content-Length', '5']));
    assert.equal(recorder.body(), 'hello');
    assert.deepEqual(recorder.last(), ['complete', true]);
  });

  test('chunked: de-chunked, extensions and trailers dropped, Transfer-Encoding not relayed', () => {
    const response = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n';
    for (const split of ['whole', 'bytes'] as const) {
      const { recorder } = parse(response, { split });
      assert.deepEqual(recorder.events[0], head(200, 'OK', ['X-A', '1']), split);
      assert.equal(recorder.body(), 'helloabcdefghijklmnopqrstuvwxyz', split);
      assert.deepEqual(recorder.last(), ['complete', true], split);
    }
  });

  test('neither length nor chunking: the body runs until the gear closes, not reusable', () => {
    const { recorder, parser } = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one,');
    parser.execute(Buffer.from(' part two'));
    assert.equal(recorder.body(), 'part one, part two');
    assert.equal(parser.finish(), true);
    assert.deepEqual(recorder.last(), ['complete', false]);
  });

  test('a body cut short by the end of the connection is reported by finish()', () => {
    const { recorder, parser } = parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello');
    assert.equal(parser.finish(), false);
    assert.deepEqual(recorder.last(), ['body', 'hello', false]);
  });

  test('no body for HEAD, 204 and 304, whatever the length says', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', { head: true }).recorder.events, [head(200, 'OK', ['Content-Length', '5']), ['complete', true]]);
    assert.deepEqual(parse('HTTP/1.1 204 No Content\r\n\r\n').recorder.events, [head(204, 'No Content', []), ['complete', true]]);
    assert.deepEqual(parse('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n').recorder.events, [head(304, 'Not Modified', []), ['complete', true]]);
  });

  test('Content-Length: 0 completes with the head', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').recorder.events, [head(200, 'OK', ['Content-Length', '0']), ['complete', true]]);
  });

  test('interim 1xx responses are skipped', () => {
    const { recorder } = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    assert.deepEqual(recorder.events, [head(201, 'Created', ['Content-Length', '2']), ['body', 'ok', true], ['complete', true]]);
  });

  test('an empty reason phrase, or none', () => {
    assert.deepEqual(parse('HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n').recorder.events[0], head(200, '', ['Content-Length', '0']));
    assert.deepEqual(parse('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n').recorder.events[0], head(200, '', ['Content-Length', '0']));
  });

  test('bytes after the end of a response: the connection is not reused', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA').recorder.events.slice(1), [['body', 'ok', true], ['complete', false]]);
    assert.deepEqual(parse('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n').recorder.events.slice(1), [['complete', false]]);
  });

  test('a second response on the same parser after expect()', () => {
    const { recorder, parser } = parse('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na');
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb'));
    assert.deepEqual(recorder.events.slice(3), [head(404, 'Not Found', ['Content-Length', '1']), ['body', 'b', true], ['complete', true]]);
  });
});

describe('gear response parser: connection headers', () => {
  test('hop-by-hop headers and those Connection names are removed; spelling and repeats kept', () => {
    const { recorder } = parse('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n');
    assert.deepEqual(recorder.events[0], head(200, 'OK', ['Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Content-Length', '0']));
  });

  test('keep-alive: HTTP/1.1 unless Connection: close; HTTP/1.0 only with Connection: keep-alive', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').recorder.last(), ['complete', false]);
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n').recorder.last(), ['complete', false]);
    assert.deepEqual(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').recorder.last(), ['complete', false]);
    assert.deepEqual(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').recorder.last(), ['complete', true]);
  });

  test("the gear's Keep-Alive timeout hint", () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n').parser.keepAliveHintMs, 5_000);
    assert.equal(parse('HTTP/1.1 200 OK\r\nKeep-Alive: max=100\r\nContent-Length: 0\r\n\r\n').parser.keepAliveHintMs, undefined);
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').parser.keepAliveHintMs, undefined);
  });

  test('a Transfer-Encoding that does not end in chunked: the body runs until close', () => {
    const { recorder, parser } = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz');
    assert.equal(parser.finish(), true);
    assert.deepEqual(recorder.events.slice(1), [['body', 'zz', false], ['complete', false]]);
  });
});

describe('gear response parser: malformed responses', () => {
  const malformed: Record<string, { response: string; reason: string; maxHeadSize?: number }> = {
    'not HTTP': { response: 'SSH-2.0-OpenSSH\r\n\r\n', reason: 'invalid status line' },
    'HTTP/2 status line': { response: 'HTTP/2 200\r\n\r\n', reason: 'invalid status line' },
    'two-digit status': { response: 'HTTP/1.1 20 OK\r\n\r\n', reason: 'invalid status line' },
    'header line without a colon': { response: 'HTTP/1.1 200 OK\r\nBroken\r\n\r\n', reason: 'invalid header line' },
    'header name empty': { response: 'HTTP/1.1 200 OK\r\n: v\r\n\r\n', reason: 'invalid header line' },
    'folded header line': { response: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\n\r\n', reason: 'folded header line' },
    'both Transfer-Encoding and Content-Length': { response: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', reason: 'both Transfer-Encoding and Content-Length' },
    'two Content-Length headers': { response: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', reason: 'invalid Content-Length' },
    'a Content-Length list': { response: 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc', reason: 'invalid Content-Length' },
    'a negative Content-Length': { response: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', reason: 'invalid Content-Length' },
    'a chunk size that is not hex': { response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', reason: 'invalid chunk size' },
    'a chunk size with a space': { response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n', reason: 'invalid chunk size' },
    'a huge chunk size': { response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n', reason: 'chunk size too large' },
    'a chunk not followed by CRLF': { response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', reason: 'chunk not followed by CRLF' },
    '101 without an upgrade asked for': { response: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', reason: 'unexpected 101 Switching Protocols' },
    'a head beyond the size limit': { response: `HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(200)}\r\n\r\n`, reason: 'response headers too large', maxHeadSize: 100 },
    'a head beyond the size limit, never ended': { response: `HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(200)}`, reason: 'response headers too large', maxHeadSize: 100 },
  };
  for (const [name, { response, reason, maxHeadSize }] of Object.entries(malformed)) {
    test(name, () => {
      for (const split of ['whole', 'bytes'] as const) {
        const { recorder } = parse(response, { split, ...(maxHeadSize === undefined ? {} : { maxHeadSize }) });
        assert.deepEqual(recorder.last(), ['malformed', reason], split);
      }
    });
  }

  test('bytes that arrive after a malformed response are ignored', () => {
    const { recorder, parser } = parse('HTTP/1.1 200 OK\r\nBroken\r\n\r\n');
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    assert.equal(recorder.events.length, 1);
  });
});

test('gear response parser: a framing header is recognised by its exact name only', () => {
  // "Transfer\rEncoding" is no Transfer-Encoding: relayed as it is (node:http then refuses the name).
  const { recorder } = parse('HTTP/1.1 200 OK\r\nTransfer\rEncoding: chunked\r\nCONTENT-LENGTH: 2\r\n\r\nok');
  assert.deepEqual(recorder.events, [head(200, 'OK', ['Transfer\rEncoding', 'chunked', 'CONTENT-LENGTH', '2']), ['body', 'ok', true], ['complete', true]]);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SseParser } from '../../src/cli/sse-parser.ts';

describe('SseParser', () => {
  test('dispatches an event on the blank line, with its id and kind', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('id: 7\nevent: app.created\ndata: {"id":7}\n\n'), [{ id: '7', event: 'app.created', data: '{"id":7}' }]);
    assert.equal(parser.lastEventId, '7');
  });

  test('a line split across chunks, and CRLF split between CR and LF', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('id: 1\r'), []);
    assert.deepEqual(parser.push('\ndata: {"a"'), []);
    assert.deepEqual(parser.push(':1}\r\n\r\n'), [{ id: '1', event: 'message', data: '{"a":1}' }]);
  });

  test('keep-alive comments dispatch nothing', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push(': keep-alive\n\n: keep-alive\n\n'), []);
  });

  test('several data lines join with newlines; retry is remembered', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('retry: 2500\ndata: a\ndata: b\n\n'), [{ id: undefined, event: 'message', data: 'a\nb' }]);
    assert.equal(parser.retryMs, 2500);
  });

  test('the last id carries over to events that send none', () => {
    const parser = new SseParser();
    const messages = parser.push('id: 3\ndata: x\n\ndata: y\n\n');
    assert.deepEqual(messages.map((message) => message.id), ['3', '3']);
  });
});

/**
 * An incremental parser for the HTTP/1.1 responses of a gear (RFC 9112), fed the bytes of one
 * keep-alive connection as they arrive. It frames the message (Content-Length, chunked, until
 * close, none for HEAD/1xx/204/304), skips 1xx interim responses, decodes chunked bodies (the
 * router's own server re-frames what it relays), and hands the head over with hop-by-hop headers
 * already removed. Strict where framing is at stake: a malformed status line, header line, length
 * or chunk size fails the message, and the connection is not reused.
 *
 * Header names and values are not checked character by character here: the head goes to
 * `ServerResponse.writeHead`, which refuses invalid names and values itself (the proxy answers
 * 502 then, as for any malformed response).
 */

import { HOP_BY_HOP } from './forwarded-headers.ts';

export interface GearResponseHead {
  readonly status: number;
  readonly reason: string;
  /** Flat `[name, value, …]` as the gear spelt them, hop-by-hop headers (and those Connection lists) removed. */
  readonly headers: string[];
}

/** What the parser reports to (the connection that feeds it). */
export interface GearResponseSink {
  /** A final (≥ 200) response head. */
  onResponseHead(head: GearResponseHead): void;
  /** Body bytes, de-chunked (a view of the bytes fed: valid during the call); `last` when they end a body of known length. */
  onResponseBody(chunk: Buffer, last: boolean): void;
  /** The message is complete; `reusable` when the connection may carry another request. */
  onResponseComplete(reusable: boolean): void;
  /** The response is malformed: the connection must be closed. */
  onResponseMalformed(reason: string): void;
}

// Parser states.
const HEAD = 0;
const FIXED_BODY = 1;
const CHUNK_SIZE = 2;
const CHUNK_EXTENSION = 3;
const CHUNK_SIZE_LF = 4;
const CHUNK_DATA = 5;
const CHUNK_DATA_CR = 6;
const CHUNK_DATA_LF = 7;
const TRAILER_LINE_START = 8;
const TRAILER_LINE = 9;
const TRAILER_LINE_LF = 10;
const TRAILERS_END_LF = 11;
const UNTIL_CLOSE = 12;
/** Between messages: bytes now are bytes the gear sent unasked. */
const IDLE = 13;
/** A final head without a body was parsed (complete once the sink has the head). */
const BODYLESS = 14;
/** Stopped (malformed, or the connection is going away): bytes are ignored until `expect`. */
const STOPPED = 15;

const CR = 13;
const LF = 10;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** A chunk size beyond this many hex digits is refused (2^48 bytes and more is no real chunk). */
const MAX_CHUNK_SIZE_DIGITS = 12;

export class GearResponseParser {
  private state = IDLE;
  /** Bytes of a head (or trailers) not complete yet. */
  private pending: Buffer | undefined;
  private headRequest = false;
  /** Body bytes still expected (fixed length), or in the current chunk. */
  private remaining = 0;
  private keepAlive = false;
  /** Size of the trailer section so far (bounded like a head). */
  private trailerBytes = 0;
  private chunkSizeDigits = 0;
  /** The gear's Keep-Alive timeout hint of the last response (ms), or undefined. */
  keepAliveHintMs: number | undefined;
  private lastKeepAliveHeader: string | undefined;
  private lastKeepAliveHintMs: number | undefined;

  constructor(
    private readonly sink: GearResponseSink,
    private readonly maxHeadSize: number,
  ) {}

  /** Expects the response to a new request (`head`: a HEAD request, whose response has no body). */
  expect(head: boolean): void {
    this.state = HEAD;
    this.pending = undefined;
    this.headRequest = head;
    this.keepAliveHintMs = undefined;
  }

  /** Stops: bytes that still arrive are ignored (the connection is being closed). */
  stop(): void {
    this.state = STOPPED;
    this.pending = undefined;
  }

  /**
   * The connection reached its end (the gear closed it). Completes a body that runs until close;
   * returns false when a response was cut short (the caller reports the failure).
   */
  finish(): boolean {
    if (this.state === UNTIL_CLOSE) {
      this.state = IDLE;
      this.sink.onResponseComplete(false);
      return true;
    }
    return this.state === IDLE || this.state === STOPPED;
  }

  /**
   * Feeds bytes received from the gear. They are only read during the call (body chunks passed
   * to the sink are views of them), so the caller may reuse their memory afterwards.
   */
  execute(chunk: Buffer): void {
    let data = chunk;
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case STOPPED:
          return;
        case IDLE:
          // Bytes the gear sent without being asked: the connection is not usable any more.
          return void this.malformed('data after the end of the response');
        case HEAD: {
          let searchFrom = 0;
          if (this.pending !== undefined) {
            searchFrom = Math.max(0, this.pending.length - 3);
            data = Buffer.concat([this.pending, at === 0 ? data : data.subarray(at)]);
            at = 0;
            this.pending = undefined;
          }
          const end = data.indexOf(HEAD_END, at + searchFrom);
          if (end === -1) {
            if (data.length - at > this.maxHeadSize) return void this.malformed('response headers too large');
            // A copy: the bytes fed may be a view of a buffer the next read overwrites.
            this.pending = Buffer.from(data.subarray(at));
            return;
          }
          if (end - at > this.maxHeadSize) return void this.malformed('response headers too large');
          const parsed = this.parseHead(data.toString('latin1', at, end));
          at = end + 4;
          if (parsed === undefined) return;
          // An interim (1xx) response: the final one follows.
          if (this.state === HEAD) break;
          this.sink.onResponseHead(parsed);
          // Parsing goes on after the sink returns only if it did not stop the parser.
          if (this.state === STOPPED) return;
          if (this.state === BODYLESS) return this.complete(at < data.length);
          break;
        }
        case FIXED_BODY: {
          const available = data.length - at;
          if (available <= this.remaining) {
            this.remaining -= available;
            const last = this.remaining === 0;
            this.sink.onResponseBody(at === 0 ? data : data.subarray(at), last);
            if (last && this.state === FIXED_BODY) this.complete(false);
            return;
          }
          const body = data.subarray(at, at + this.remaining);
          at += this.remaining;
          this.remaining = 0;
          this.sink.onResponseBody(body, true);
          if (this.state !== FIXED_BODY) return;
          this.complete(true);
          return;
        }
        case UNTIL_CLOSE:
          this.sink.onResponseBody(at === 0 ? data : data.subarray(at), false);
          return;
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, data.length - at);
          const body = data.subarray(at, at + take);
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = CHUNK_DATA_CR;
          this.sink.onResponseBody(body, false);
          break;
        }
        default: {
          // The byte-wise states of chunked framing.
          const byte = data[at++]!;
          if (!this.chunkFraming(byte)) return;
          if (this.state === IDLE) {
            // The last chunk and its trailers are done.
            this.complete(at < data.length);
            return;
          }
        }
      }
      if (this.state === STOPPED) {
        // Stopped by the sink (the client went away, or the head could not be relayed).
        return;
      }
    }
  }

  /** One byte of chunk-size line, chunk terminator or trailer section; false when malformed. */
  private chunkFraming(byte: number): boolean {
    switch (this.state) {
      case CHUNK_SIZE: {
        const digit = hexValue(byte);
        if (digit !== -1) {
          if (++this.chunkSizeDigits > MAX_CHUNK_SIZE_DIGITS) return this.malformed('chunk size too large');
          this.remaining = this.remaining * 16 + digit;
          return true;
        }
        if (this.chunkSizeDigits === 0) return this.malformed('invalid chunk size');
        if (byte === CR) this.state = CHUNK_SIZE_LF;
        else if (byte === 59 /* ; */) this.state = CHUNK_EXTENSION;
        else return this.malformed('invalid chunk size');
        return true;
      }
      case CHUNK_EXTENSION:
        if (byte === CR) this.state = CHUNK_SIZE_LF;
        else if (byte === LF || (byte < 32 && byte !== 9) || byte === 127) return this.malformed('invalid chunk extension');
        return true;
      case CHUNK_SIZE_LF:
        if (byte !== LF) return this.malformed('invalid chunk size line');
        if (this.remaining === 0) {
          this.state = TRAILER_LINE_START;
          this.trailerBytes = 0;
        } else {
          this.state = CHUNK_DATA;
        }
        return true;
      case CHUNK_DATA_CR:
        if (byte !== CR) return this.malformed('chunk not followed by CRLF');
        this.state = CHUNK_DATA_LF;
        return true;
      case CHUNK_DATA_LF:
        if (byte !== LF) return this.malformed('chunk not followed by CRLF');
        this.state = CHUNK_SIZE;
        this.chunkSizeDigits = 0;
        this.remaining = 0;
        return true;
      case TRAILER_LINE_START:
        if (byte === CR) {
          this.state = TRAILERS_END_LF;
          return true;
        }
        if (byte === LF || byte === 32 || byte === 9) return this.malformed('invalid trailer');
        this.state = TRAILER_LINE;
        return this.countTrailerByte();
      case TRAILER_LINE:
        if (byte === CR) this.state = TRAILER_LINE_LF;
        else if (byte === LF) return this.malformed('invalid trailer');
        return this.countTrailerByte();
      case TRAILER_LINE_LF:
        if (byte !== LF) return this.malformed('invalid trailer');
        this.state = TRAILER_LINE_START;
        return true;
      case TRAILERS_END_LF:
        if (byte !== LF) return this.malformed('invalid trailer');
        // Trailers are not relayed (the client response has its own framing).
        this.state = IDLE;
        return true;
      default:
        return this.malformed('parser state');
    }
  }

  private countTrailerByte(): boolean {
    return ++this.trailerBytes <= this.maxHeadSize || this.malformed('response trailers too large');
  }

  /**
   * Parses a head (status line and header lines, without the blank line) and sets the state for
   * what follows it: HEAD again after an interim response, else the body's framing. Undefined
   * when it is malformed (reported).
   */
  private parseHead(head: string): GearResponseHead | undefined {
    let lineEnd = head.indexOf('\r\n');
    if (lineEnd === -1) lineEnd = head.length;
    // HTTP/1.x NNN[ reason]
    if (lineEnd < 12 || !head.startsWith('HTTP/1.') || head.charCodeAt(8) !== 32 || (lineEnd > 12 && head.charCodeAt(12) !== 32)) return void this.malformed('invalid status line');
    const minor = head.charCodeAt(7) - 48;
    const status = digit(head, 9) * 100 + digit(head, 10) * 10 + digit(head, 11);
    if ((minor !== 0 && minor !== 1) || !(status >= 100 && status <= 999)) return void this.malformed('invalid status line');
    const http10 = minor === 0;
    const headers: string[] = [];
    let contentLength = -1;
    let transferEncoding: string | undefined;
    let connection: string | undefined;
    let keepAliveHeader: string | undefined;
    for (let start = lineEnd + 2; start < head.length; ) {
      let end = head.indexOf('\r\n', start);
      if (end === -1) end = head.length;
      const first = head.charCodeAt(start);
      // obs-fold (a line continuing the previous one) is refused, as RFC 9112 §5.2 allows.
      if (first === 32 || first === 9) return void this.malformed('folded header line');
      const colon = head.indexOf(':', start);
      if (colon <= start || colon >= end) return void this.malformed('invalid header line');
      let valueStart = colon + 1;
      let valueEnd = end;
      while (valueStart < valueEnd && isWhitespace(head.charCodeAt(valueStart))) valueStart++;
      while (valueEnd > valueStart && isWhitespace(head.charCodeAt(valueEnd - 1))) valueEnd--;
      const nameStart = start;
      start = end + 2;
      // The few names that matter here, told apart by length first (no lower-case copy of the others).
      switch (colon - nameStart) {
        case 14:
          if (sameLetters(head, nameStart, 'content-length')) {
            contentLength = contentLength === -1 ? decimal(head, valueStart, valueEnd) : -2;
            if (contentLength < 0) return void this.malformed('invalid Content-Length');
          }
          break;
        case 10:
          if (sameLetters(head, nameStart, 'connection')) {
            const value = head.slice(valueStart, valueEnd);
            connection = connection === undefined ? value : `${connection}, ${value}`;
            continue;
          }
          if (sameLetters(head, nameStart, 'keep-alive')) {
            keepAliveHeader = head.slice(valueStart, valueEnd);
            continue;
          }
          break;
        case 17:
          if (sameLetters(head, nameStart, 'transfer-encoding')) {
            const value = head.slice(valueStart, valueEnd);
            transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
            continue;
          }
          break;
        case 2:
        case 7:
        case 16:
        case 18:
        case 19:
          // te, trailer, upgrade, proxy-connection, proxy-authenticate, proxy-authorization
          if (HOP_BY_HOP.has(head.slice(nameStart, colon).toLowerCase())) continue;
          break;
      }
      headers.push(head.slice(nameStart, colon), head.slice(valueStart, valueEnd));
    }

    if (status < 200) {
      // 101 would switch protocols, which the router never asks for (Upgrade is hop-by-hop).
      if (status === 101) return void this.malformed('unexpected 101 Switching Protocols');
      // Interim responses (100, 103 hints) are not relayed: wait for the final one.
      return { status, reason: '', headers };
    }

    if (connection === undefined) {
      this.keepAlive = !http10;
    } else if (connection.length === 10 && sameLetters(connection, 0, 'keep-alive')) {
      // What most gears send: nothing else to look at.
      this.keepAlive = true;
    } else {
      const tokens = connection.toLowerCase().split(',').map((token) => token.trim());
      this.keepAlive = http10 ? tokens.includes('keep-alive') : !tokens.includes('close');
      removeListed(headers, tokens);
    }
    if (keepAliveHeader === undefined) {
      this.keepAliveHintMs = undefined;
    } else if (keepAliveHeader !== this.lastKeepAliveHeader) {
      // A gear sends the same hint every time: parsed once.
      this.lastKeepAliveHeader = keepAliveHeader;
      this.keepAliveHintMs = this.lastKeepAliveHintMs = keepAliveTimeoutMs(keepAliveHeader);
    } else {
      this.keepAliveHintMs = this.lastKeepAliveHintMs;
    }

    const noBody = this.headRequest || status === 204 || status === 304;
    if (transferEncoding !== undefined && !noBody) {
      // Both is how responses are smuggled (RFC 9112 §6.3): refused, as llhttp does.
      if (contentLength !== -1) return void this.malformed('both Transfer-Encoding and Content-Length');
      const codings = transferEncoding.toLowerCase().split(',');
      if (codings[codings.length - 1]!.trim() === 'chunked') {
        this.state = CHUNK_SIZE;
        this.chunkSizeDigits = 0;
        this.remaining = 0;
      } else {
        this.state = UNTIL_CLOSE;
        this.keepAlive = false;
      }
    } else if (noBody || contentLength === 0) {
      this.state = BODYLESS;
    } else if (contentLength > 0) {
      this.state = FIXED_BODY;
      this.remaining = contentLength;
    } else {
      this.state = UNTIL_CLOSE;
      this.keepAlive = false;
    }

    return { status, reason: lineEnd > 13 ? head.slice(13, lineEnd) : '', headers };
  }

  /** The message ended; `extra`: more bytes followed it (the gear sent what was not asked for). */
  private complete(extra: boolean): void {
    this.state = IDLE;
    this.sink.onResponseComplete(this.keepAlive && !extra);
  }

  private malformed(reason: string): false {
    this.state = STOPPED;
    this.pending = undefined;
    this.sink.onResponseMalformed(reason);
    return false;
  }
}

/** `Keep-Alive: timeout=5, max=100` → 5000. */
function keepAliveTimeoutMs(value: string): number | undefined {
  const match = /(?:^|[\s,])timeout=(\d{1,9})/i.exec(value);
  return match === null ? undefined : Number(match[1]) * 1000;
}

/** Removes (in place) the headers a Connection header names: they are hop-by-hop too. */
function removeListed(headers: string[], connectionTokens: readonly string[]): void {
  const listed = connectionTokens.filter((token) => token !== '' && token !== 'close' && token !== 'keep-alive');
  if (listed.length === 0) return;
  let kept = 0;
  for (let index = 0; index < headers.length; index += 2) {
    if (listed.includes(headers[index]!.toLowerCase())) continue;
    headers[kept++] = headers[index]!;
    headers[kept++] = headers[index + 1]!;
  }
  headers.length = kept;
}

/** The value of the decimal digit at `at`, or NaN. */
function digit(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code >= 48 && code <= 57 ? code - 48 : NaN;
}

/** The number written in `text[start, end)`: 1 to 15 digits, nothing else; -1 otherwise. */
function decimal(text: string, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let value = 0;
  for (let at = start; at < end; at++) {
    const code = text.charCodeAt(at);
    if (code < 48 || code > 57) return -1;
    value = value * 10 + (code - 48);
  }
  return value;
}

/** Whether `text` at `start` spells `lower` (lower-case letters and '-'), letters in any case. */
function sameLetters(text: string, start: number, lower: string): boolean {
  for (let at = 0; at < lower.length; at++) {
    const code = text.charCodeAt(start + at);
    const want = lower.charCodeAt(at);
    if (code !== want && !(want >= 97 && want <= 122 && code === want - 32)) return false;
  }
  return true;
}

function isWhitespace(code: number): boolean {
  return code === 32 || code === 9;
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

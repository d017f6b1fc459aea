import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

import type { ClientReply, ClientRequest, ReplyListener } from './client-reply.ts';
import { MAX_HEAD, parseFrontRequest } from './front-request-parser.ts';

/**
 * The router's fast path for the common request (front-request-parser.ts says which): read,
 * answered and written back here, without node:http's IncomingMessage/ServerResponse streams,
 * which cost about as much CPU per request as the whole proxying did (bench/router.bench.ts).
 *
 * A connection starts here. At a request boundary, anything else (a body, Expect, Upgrade,
 * HTTP/1.0, a head that did not arrive whole, unusual syntax, a malformed request) hands the
 * connection to node:http for good: the bytes already read are put back, and node:http parses
 * them as if it had read them itself. The responses written here follow node:http's rules for
 * the same calls (head sent with the first body bytes, header checks and their errors, Date,
 * Connection/Keep-Alive, chunked framing when the length is unknown, no body for HEAD/204/304),
 * so a client cannot tell which path answered. Requests pipelined on one connection are
 * answered one after the other (node:http starts them at once and queues the answers).
 */

export interface FrontHost {
  /** Answers a request (the router's own paths, or the proxy). */
  handle(request: ClientRequest, reply: ClientReply): void;
  /** Gives a connection to node:http (its unread bytes are back in the socket). */
  handOff(socket: Socket): void;
  /** The connection is gone or handed off: stop tracking it. */
  forget(connection: FrontConnection): void;
  /** node:http's keep-alive timeout (the Keep-Alive header, and idle connections closed after it plus 1 s). */
  readonly keepAliveTimeoutMs: number;
}

/** A connection that sent nothing this long after it was accepted goes to node:http (and its header timeout). */
const FIRST_REQUEST_WAIT_MS = 1_000;
/** Bytes read ahead (pipelined) while a response is under way before reading pauses. */
const READ_AHEAD_LIMIT = 64 * 1024;
/** Bodies up to this size are sent with their head as one string (one write, no writev). */
const SMALL_BODY = 1_024;

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** What the router's clientError handler answers (router.ts), for a request cut short by the client. */
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';

// node:http's checks (lib/_http_common.js), with its error messages.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

export class FrontConnection {
  /** Bytes read and not yet parsed (a request head, or what was pipelined after it). */
  private pending: Buffer | undefined;
  /** The response under way, if any. */
  private reply: FrontReply | undefined;
  private readonly acceptedAt = Date.now();
  private requests = 0;
  private idleSince = Date.now();
  private handOffScheduled = false;
  private pausedByUs = false;
  private done = false;
  private readonly keepAliveHeader: string;

  constructor(
    readonly socket: Socket,
    private readonly host: FrontHost,
  ) {
    this.keepAliveHeader = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(host.keepAliveTimeoutMs / 1000)}\r\n`;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  /** Checks the idle timeouts (called twice a second). */
  sweep(now: number): void {
    if (this.done || this.reply !== undefined || this.handOffScheduled) return;
    if (this.requests === 0) {
      if (this.pending === undefined && now - this.acceptedAt >= FIRST_REQUEST_WAIT_MS) this.scheduleHandOff();
    } else if (this.pending === undefined && now - this.idleSince >= this.host.keepAliveTimeoutMs + 1_000) {
      // node:http's keep-alive timeout (its socket timeout is the header's value plus 1 s).
      this.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- reading --------------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.handOffScheduled) return;
    if (this.reply !== undefined) {
      // Pipelined: read on only so far while the current response is under way.
      if (this.pending.length > READ_AHEAD_LIMIT && !this.pausedByUs) {
        this.pausedByUs = true;
        this.socket.pause();
      }
      return;
    }
    this.next();
  };

  /** Starts the next request if one is there; hands the connection to node:http if it is not one for here. */
  private next(): void {
    const data = this.pending;
    if (data === undefined || this.done) return;
    const end = data.indexOf(HEAD_END);
    const request = end === -1 || end > MAX_HEAD ? undefined : parseFrontRequest(data.toString('latin1', 0, end));
    if (request === undefined) return this.scheduleHandOff();
    this.pending = end + 4 < data.length ? data.subarray(end + 4) : undefined;
    this.requests++;
    const reply = new FrontReply(this, request.method === 'HEAD', request.keepAlive);
    this.reply = reply;
    this.host.handle({ method: request.method, url: request.target, rawHeaders: request.rawHeaders, clientIp: this.socket.remoteAddress ?? '', encrypted: false, body: null }, reply);
  }

  /**
   * Hands the connection to node:http at the check phase: every byte libuv reads in this poll
   * phase has then come through here and is put back in order before node:http reads on.
   */
  private scheduleHandOff(): void {
    if (this.handOffScheduled) return;
    this.handOffScheduled = true;
    setImmediate(() => this.handOff());
  }

  private handOff(): void {
    if (this.done || this.socket.destroyed) return;
    this.detach();
    this.socket.pause();
    if (this.pending !== undefined) this.socket.unshift(this.pending);
    this.pending = undefined;
    this.host.handOff(this.socket);
    // node:http does not resume a socket it is given paused; its 'data' listener gets the bytes put back first.
    this.socket.resume();
  }

  private detach(): void {
    this.done = true;
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    this.socket.off('drain', this.onDrain);
    this.host.forget(this);
  }

  private readonly onEnd = (): void => {
    // The client will send no more. As node:http (without httpAllowHalfOpen): a request under
    // way is abandoned, an incomplete one answered 400, and the connection closed.
    if (this.handOffScheduled && this.pending !== undefined && this.pending.indexOf(HEAD_END) === -1) {
      this.detach();
      this.socket.end(BAD_REQUEST);
      return;
    }
    this.detach();
    this.reply?.clientGone();
    this.socket.end();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    if (!this.done) this.detach();
    this.reply?.clientGone();
  };

  private readonly onDrain = (): void => {
    this.reply?.drained();
  };

  // ---- writing (for FrontReply) ------------------------------------------------------------------

  get keepAliveLines(): string {
    return this.keepAliveHeader;
  }

  /** Writes `text` (latin1), then `body`, then `tail`, as few writes as possible. */
  send(text: string, body: Buffer | undefined, tail: string): boolean {
    const socket = this.socket;
    if (body === undefined || body.length === 0) {
      const whole = text + tail;
      return whole === '' ? !socket.writableNeedDrain : socket.write(whole, 'latin1');
    }
    if (body.length <= SMALL_BODY) return socket.write(text + body.toString('latin1') + tail, 'latin1');
    socket.cork();
    if (text !== '') socket.write(text, 'latin1');
    let flowing = socket.write(body);
    if (tail !== '') flowing = socket.write(tail, 'latin1');
    socket.uncork();
    return flowing;
  }

  /** The response is complete: close if it said so, else go on with the next request. */
  replied(reply: FrontReply, close: boolean): void {
    if (this.reply !== reply) return;
    this.reply = undefined;
    this.idleSince = Date.now();
    if (close) {
      // As node:http: after `Connection: close`, end once the response is written.
      this.detach();
      this.socket.end();
      return;
    }
    if (this.pausedByUs) {
      this.pausedByUs = false;
      this.socket.resume();
    }
    if (this.pending !== undefined) this.next();
  }
}

/** One response written on the fast path (node:http's ServerResponse rules, see above). */
class FrontReply implements ClientReply {
  listener: ReplyListener | undefined;
  headersSent = false;
  closed = false;
  /** The head, sent with the first body bytes or at the end (as node:http does). */
  private head = '';
  private hasBody: boolean;
  private chunked = false;
  private close: boolean;

  constructor(
    private readonly connection: FrontConnection,
    headRequest: boolean,
    keepAlive: boolean,
  ) {
    this.hasBody = !headRequest;
    this.close = !keepAlive;
  }

  writeHead(status: number, reason: string | undefined, headers: readonly string[]): void {
    if (this.headersSent) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    const message = reason ?? STATUS_CODES[status] ?? 'unknown';
    if (INVALID_HEADER_CHAR.test(message)) throw Object.assign(new TypeError('Invalid character in statusMessage'), { code: 'ERR_INVALID_CHAR' });
    if (status === 204 || status === 304 || (status >= 100 && status <= 199)) this.hasBody = false;
    let head = `HTTP/1.1 ${status} ${message}\r\n`;
    let date = false;
    let length = false;
    for (let index = 0; index < headers.length; index += 2) {
      const name = headers[index]!;
      const value = headers[index + 1]!;
      if (!TOKEN.test(name)) throw Object.assign(new TypeError(`Header name must be a valid HTTP token ["${name}"]`), { code: 'ERR_INVALID_HTTP_TOKEN' });
      if (INVALID_HEADER_CHAR.test(value)) throw Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: 'ERR_INVALID_CHAR' });
      head += `${name}: ${value}\r\n`;
      // The names node:http looks at (connection, keep-alive, transfer-encoding and trailer are
      // hop-by-hop: never relayed, and not among the router's own headers).
      if (name.length === 4) date ||= name.toLowerCase() === 'date';
      else if (name.length === 14) length ||= name.toLowerCase() === 'content-length';
    }
    if (!date) head += `Date: ${utcDate()}\r\n`;
    head += this.close ? 'Connection: close\r\n' : this.connection.keepAliveLines;
    if (!length && this.hasBody) {
      head += 'Transfer-Encoding: chunked\r\n';
      this.chunked = true;
    }
    this.head = `${head}\r\n`;
    this.headersSent = true;
  }

  write(chunk: Buffer): boolean {
    if (this.closed) return false;
    if (!this.headersSent) this.writeHead(200, undefined, []);
    // node:http ignores body writes on a response that has none.
    if (!this.hasBody || chunk.length === 0) return true;
    const head = this.head;
    this.head = '';
    return this.chunked ? this.connection.send(`${head}${chunk.length.toString(16)}\r\n`, chunk, '\r\n') : this.connection.send(head, chunk, '');
  }

  end(chunk?: Buffer | string): void {
    if (this.closed) return;
    if (!this.headersSent) this.writeHead(200, undefined, []);
    const body = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const head = this.head;
    this.head = '';
    this.closed = true;
    if (!this.hasBody || body === undefined || body.length === 0) {
      this.connection.send(head, undefined, this.chunked ? '0\r\n\r\n' : '');
    } else if (this.chunked) {
      this.connection.send(`${head}${body.length.toString(16)}\r\n`, body, '\r\n0\r\n\r\n');
    } else {
      this.connection.send(head, body, '');
    }
    this.connection.replied(this, this.close);
  }

  destroy(): void {
    this.closed = true;
    this.connection.destroy();
  }

  clientGone(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener?.onClientGone();
  }

  drained(): void {
    this.listener?.onReplyDrain();
  }
}

let cachedDate = '';
let cachedSecond = -1;

/** The Date header value, computed once a second (as node:http does). */
function utcDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(now).toUTCString();
  }
  return cachedDate;
}

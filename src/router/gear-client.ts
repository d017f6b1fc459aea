import { maxHeaderSize } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';

import { GearResponseParser, type GearResponseHead, type GearResponseSink } from './gear-response-parser.ts';

/**
 * The router's HTTP/1.1 client for one gear endpoint: a pool of keep-alive connections, one
 * request at a time on each (no pipelining), requests beyond `connections` waiting for one.
 *
 * Written for the proxy's hot path rather than taken from a general client: the request head
 * arrives already assembled from headers the router's own server parsed and checked, the
 * response is relayed as it is parsed (head, then body chunks with backpressure), and timeouts
 * are checked by one sweep every half second rather than by a timer per request. With the
 * router of bench/router.bench.ts, this took the router's CPU time per request from about 32 µs
 * (undici's Pool) to 23 µs.
 */

export interface GearClientOptions {
  /** Connections to the endpoint at most; requests beyond wait for one. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** How long a gear may stay silent (before the response head, between body chunks). */
  readonly idleTimeoutMs: number;
  /** How long an idle keep-alive connection is kept when the gear gives no Keep-Alive hint. */
  readonly keepAliveTimeoutMs: number;
}

/** A request to a gear: the head is written as given, the body streamed. */
export interface GearRequest {
  readonly method: string;
  /** The request target as the client sent it (origin or absolute form). */
  readonly path: string;
  /** Header lines, each `Name: value\r\n`, hop-by-hop headers already removed. */
  readonly headerLines: string;
  /** The body to stream to the gear, or null when the request has none. */
  readonly body: Readable | null;
  /** Send the body chunked (the client's request was chunked: its length is not known). */
  readonly chunked: boolean;
}

/** What a request in flight can do with its connection. */
export interface GearControl {
  /** Stops reading the response (the client's socket is full)… */
  pause(): void;
  /** …and reads again. */
  resume(): void;
  /** Gives up the request (the client went away): the connection is closed, nothing more is reported. */
  abort(): void;
}

/** Receives what happens to one request. After `onResponseEnd` or `onFailure`, nothing more. */
export interface GearExchange {
  /** The request is about to be written on a connection; false: it is not wanted any more. */
  onStart(control: GearControl): boolean;
  onResponseHead(head: GearResponseHead): void;
  /** Body bytes; `last` when they complete a body of known length. */
  onResponseBody(chunk: Buffer, last: boolean): void;
  onResponseEnd(): void;
  /** The request failed; `responseStarted` when its head had been reported already. */
  onFailure(error: Error, responseStarted: boolean): void;
}

/** A failure of the gear's side that has no errno: `code` says which. */
export class GearError extends Error {
  constructor(
    readonly code: 'GEAR_CONNECT_TIMEOUT' | 'GEAR_HEADERS_TIMEOUT' | 'GEAR_BODY_TIMEOUT' | 'GEAR_CLOSED' | 'GEAR_BAD_RESPONSE' | 'GEAR_CLIENT_CLOSED',
    message: string,
  ) {
    super(message);
    this.name = 'GearError';
  }
}

/**
 * Where every gear connection reads into (`onread`): its bytes are parsed at once, and what must
 * outlive the read (a partial head, body chunks) is copied. One buffer is enough: reads are
 * handled one at a time, each to the end, on the one thread.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** How often timeouts (connect, silence, idle keep-alive) are checked. */
export const SWEEP_INTERVAL_MS = 500;
/** A gear's Keep-Alive hint is shortened by this much, so the router closes first (as undici does). */
const KEEP_ALIVE_HINT_MARGIN_MS = 2_000;
const KEEP_ALIVE_MAX_MS = 600_000;

interface Waiting {
  readonly request: GearRequest;
  readonly exchange: GearExchange;
}

export class GearClient {
  private readonly connections = new Set<GearConnection>();
  /** Idle keep-alive connections, the most recently used last (reused first). */
  private readonly idle: GearConnection[] = [];
  private readonly waiting: Waiting[] = [];
  private closing = false;
  private destroyed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly options: GearClientOptions,
  ) {}

  /** Sends `request`, on an idle connection unless `fresh` (then on a new one). */
  dispatch(request: GearRequest, exchange: GearExchange, fresh = false): void {
    if (this.destroyed) return exchange.onFailure(new GearError('GEAR_CLIENT_CLOSED', 'the router is closing'), false);
    if (!fresh) {
      const connection = this.idle.pop();
      if (connection !== undefined) return connection.run(request, exchange);
    }
    if (this.connections.size >= this.options.connections) {
      this.waiting.push({ request, exchange });
      return;
    }
    this.open().run(request, exchange);
  }

  /** Closes idle connections now and the others once their request is done. */
  close(): void {
    this.closing = true;
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  /** Closes every connection now; requests in flight or waiting fail. */
  destroy(): void {
    this.closing = true;
    this.destroyed = true;
    const error = new GearError('GEAR_CLIENT_CLOSED', 'the router is closing');
    for (const { exchange } of this.waiting.splice(0)) exchange.onFailure(error, false);
    for (const connection of [...this.connections]) connection.fail(error);
  }

  /** Whether it holds no connection and no waiting request (a closed client can be forgotten). */
  get empty(): boolean {
    return this.connections.size === 0 && this.waiting.length === 0;
  }

  /** Checks the timeouts of its connections. */
  sweep(now: number): void {
    for (const connection of this.connections) connection.checkTimeouts(now);
  }

  /** A connection finished a request and may carry another. */
  release(connection: GearConnection): void {
    const next = this.waiting.shift();
    if (next !== undefined) return connection.run(next.request, next.exchange);
    if (this.closing) return connection.destroy();
    connection.idleSince(Date.now());
    this.idle.push(connection);
  }

  /** A connection closed: forget it, and open another for a waiting request. */
  forget(connection: GearConnection): void {
    if (!this.connections.delete(connection)) return;
    const at = this.idle.lastIndexOf(connection);
    if (at !== -1) this.idle.splice(at, 1);
    const next = this.waiting.shift();
    if (next !== undefined) this.open().run(next.request, next.exchange);
  }

  private open(): GearConnection {
    const connection = new GearConnection(this);
    this.connections.add(connection);
    return connection;
  }
}

/** One TCP connection to the gear and the request it carries, if any. */
class GearConnection implements GearResponseSink, GearControl {
  private readonly socket: Socket;
  private readonly parser: GearResponseParser;
  private exchange: GearExchange | undefined;
  private body: Readable | null = null;
  private chunked = false;
  /** The whole request (body included) has been written. */
  private requestSent = true;
  /**
   * Do not reuse the connection after this request (as undici): it had a body although its
   * method defines none, or it was a HEAD, after which a misbehaving gear may send a body anyway.
   */
  private lastRequest = false;
  private headReported = false;
  private connected = false;
  private paused = false;
  private closed = false;
  private readonly openedAt = Date.now();
  private lastActivity = 0;
  /** When an idle connection is closed (the keep-alive timeout). */
  private idleDeadline = 0;
  private keepAliveMs: number;

  constructor(private readonly client: GearClient) {
    this.keepAliveMs = client.options.keepAliveTimeoutMs;
    this.parser = new GearResponseParser(this, maxHeaderSize);
    // Received bytes go straight to the parser (`onread`), not through a Readable stream.
    const socket = connect({ host: client.host, port: client.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, onread: { buffer: READ_BUFFER, callback: this.onRead } });
    this.socket = socket;
    socket.on('connect', this.onConnect);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  run(request: GearRequest, exchange: GearExchange): void {
    if (!exchange.onStart(this)) return this.client.release(this);
    this.exchange = exchange;
    this.headReported = false;
    this.lastActivity = Date.now();
    this.parser.expect(request.method === 'HEAD');
    const head = `${request.method} ${request.path} HTTP/1.1\r\n${request.headerLines}connection: keep-alive\r\n`;
    if (request.body === null) {
      this.requestSent = true;
      this.lastRequest = request.method === 'HEAD';
      this.socket.write(`${head}\r\n`, 'latin1');
      return;
    }
    this.requestSent = false;
    this.lastRequest = !PAYLOAD_METHODS.has(request.method);
    this.chunked = request.chunked;
    this.socket.write(request.chunked ? `${head}transfer-encoding: chunked\r\n\r\n` : `${head}\r\n`, 'latin1');
    this.body = request.body;
    request.body.on('data', this.onBodyData);
    request.body.on('end', this.onBodyEnd);
  }

  // ---- GearControl --------------------------------------------------------------------------

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastActivity = Date.now();
    this.socket.resume();
  }

  abort(): void {
    if (this.exchange === undefined) return;
    this.endExchange();
    this.destroy();
  }

  // ---- GearResponseSink ---------------------------------------------------------------------

  onResponseHead(head: GearResponseHead): void {
    this.headReported = true;
    this.exchange!.onResponseHead(head);
  }

  onResponseBody(chunk: Buffer, last: boolean): void {
    // A copy: the chunk is a view of the shared read buffer, and the client's socket may keep it.
    this.exchange!.onResponseBody(Buffer.from(chunk), last);
  }

  onResponseComplete(reusable: boolean): void {
    const exchange = this.exchange!;
    const sent = this.requestSent;
    const hint = this.parser.keepAliveHintMs;
    this.endExchange();
    exchange.onResponseEnd();
    if (hint !== undefined) this.keepAliveMs = Math.min(hint - KEEP_ALIVE_HINT_MARGIN_MS, KEEP_ALIVE_MAX_MS);
    if (reusable && sent && !this.lastRequest && this.keepAliveMs > 0 && !this.closed) this.client.release(this);
    else this.destroy();
  }

  onResponseMalformed(reason: string): void {
    this.fail(new GearError('GEAR_BAD_RESPONSE', `invalid response: ${reason}`));
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  idleSince(now: number): void {
    this.idleDeadline = now + this.keepAliveMs;
  }

  /** Fails the request in flight (if any) with `error` and closes the connection. */
  fail(error: Error): void {
    const exchange = this.exchange;
    const started = this.headReported;
    if (exchange !== undefined) this.endExchange();
    this.destroy();
    exchange?.onFailure(error, started);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.stop();
    this.socket.destroy();
    this.client.forget(this);
  }

  checkTimeouts(now: number): void {
    if (this.exchange === undefined) {
      // Idle: close before the gear does (a request written as it closes would fail).
      if (now + SWEEP_INTERVAL_MS >= this.idleDeadline) this.destroy();
      return;
    }
    const options = this.client.options;
    if (!this.connected) {
      if (now - this.openedAt >= options.connectTimeoutMs) this.fail(new GearError('GEAR_CONNECT_TIMEOUT', 'connect timed out'));
    } else if (!this.paused && now - this.lastActivity >= options.idleTimeoutMs) {
      if (this.headReported) this.fail(new GearError('GEAR_BODY_TIMEOUT', `the gear sent nothing for ${Math.round(options.idleTimeoutMs / 1000)} s`));
      else this.fail(new GearError('GEAR_HEADERS_TIMEOUT', 'no response headers in time'));
    }
  }

  /** Detaches the request in flight from the connection. */
  private endExchange(): void {
    this.exchange = undefined;
    const body = this.body;
    if (body !== null) {
      this.body = null;
      body.off('data', this.onBodyData);
      body.off('end', this.onBodyEnd);
      // The gear answered (or failed) before the whole body was sent: the rest is read and
      // dropped, as node:http does with a body nobody reads, so the client can go on.
      if (!this.requestSent) body.resume();
    }
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  // ---- socket and body events (bound once per connection) ------------------------------------

  private readonly onConnect = (): void => {
    this.connected = true;
    this.lastActivity = Date.now();
  };

  private readonly onRead = (length: number, buffer: Uint8Array): boolean => {
    if (this.exchange === undefined) {
      // Bytes on an idle connection: nothing was asked; it cannot be trusted with a request.
      this.destroy();
      return false;
    }
    this.lastActivity = Date.now();
    this.parser.execute((buffer as Buffer).subarray(0, length));
    // (Backpressure pauses the socket itself: `pause()`.)
    return true;
  };

  private readonly onEnd = (): void => {
    if (this.exchange !== undefined && !this.parser.finish()) {
      this.fail(new GearError('GEAR_CLOSED', this.headReported ? 'the gear closed the connection before the end of the response' : 'the gear closed the connection'));
    }
    this.destroy();
  };

  private readonly onError = (error: Error): void => {
    this.fail(error);
  };

  private readonly onClose = (): void => {
    this.fail(new GearError('GEAR_CLOSED', 'the gear closed the connection'));
  };

  private readonly onDrain = (): void => {
    this.lastActivity = Date.now();
    this.body?.resume();
  };

  private readonly onBodyData = (chunk: Buffer): void => {
    if (chunk.length === 0) return;
    this.lastActivity = Date.now();
    let flowing: boolean;
    if (this.chunked) {
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      this.socket.write(chunk);
      flowing = this.socket.write('\r\n', 'latin1');
      this.socket.uncork();
    } else {
      flowing = this.socket.write(chunk);
    }
    // Backpressure: the client's upload waits while the gear's socket is full.
    if (!flowing) this.body?.pause();
  };

  private readonly onBodyEnd = (): void => {
    if (this.chunked) this.socket.write('0\r\n\r\n', 'latin1');
    this.requestSent = true;
    const body = this.body;
    if (body !== null) {
      this.body = null;
      body.off('data', this.onBodyData);
      body.off('end', this.onBodyEnd);
    }
  };
}

/** Methods that define a request body (a body on another one makes the connection unsafe to reuse). */
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/**
 * The response to one client request, as the proxy writes it: either a node:http
 * `ServerResponse` (NodeReply) or the router's fast path (front-connection.ts). Both follow
 * node:http's rules: the head is sent with the first body bytes (or at the end), invalid header
 * names or values throw before anything is written, framing and Connection headers are added
 * the same way.
 */
export interface ClientReply {
  /** The head has been written (it may not have left yet: it goes with the first body bytes). */
  readonly headersSent: boolean;
  /** The response is complete, or abandoned (client gone, destroyed): nothing more to write. */
  readonly closed: boolean;
  /** Who hears of the client going away and of a full socket draining (one at a time). */
  listener: ReplyListener | undefined;
  /** Throws (writing nothing) for a status, reason, header name or value node:http refuses. */
  writeHead(status: number, reason: string | undefined, headers: readonly string[]): void;
  /** False when the client's socket is full: wait for `onReplyDrain`. */
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer | string): void;
  /** Cuts the connection: a response that cannot be completed. */
  destroy(): void;
}

export interface ReplyListener {
  /** The client went away before the response was complete. */
  onClientGone(): void;
  /** The client's socket drained after `write` returned false. */
  onReplyDrain(): void;
}

/** A request as the proxy needs it, from either front. */
export interface ClientRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly clientIp: string;
  readonly encrypted: boolean;
  /** The body, when the headers announce one (only node:http's requests have one). */
  readonly body: Readable | null;
}

/** A node:http request as a ClientRequest (the request itself carries its body). */
export function nodeRequest(request: IncomingMessage): ClientRequest {
  const socket = request.socket;
  return {
    method: request.method ?? 'GET',
    url: request.url ?? '/',
    rawHeaders: request.rawHeaders,
    clientIp: socket.remoteAddress ?? '',
    encrypted: 'encrypted' in socket && socket.encrypted === true,
    body: request,
  };
}

const REPLY = Symbol('geartide.reply');
type TaggedResponse = ServerResponse & { [REPLY]?: NodeReply };

/** A node:http ServerResponse as a ClientReply. */
export class NodeReply implements ClientReply {
  private watching = false;
  private waitingForDrain = false;
  private listenerValue: ReplyListener | undefined;

  constructor(private readonly response: ServerResponse) {}

  get headersSent(): boolean {
    return this.response.headersSent;
  }

  get closed(): boolean {
    return this.response.writableEnded || this.response.destroyed;
  }

  get listener(): ReplyListener | undefined {
    return this.listenerValue;
  }

  set listener(listener: ReplyListener | undefined) {
    this.listenerValue = listener;
    if (listener !== undefined && !this.watching) {
      this.watching = true;
      (this.response as TaggedResponse)[REPLY] = this;
      this.response.on('close', onResponseClose);
    }
  }

  writeHead(status: number, reason: string | undefined, headers: readonly string[]): void {
    try {
      if (reason === undefined) this.response.writeHead(status, headers as string[]);
      else this.response.writeHead(status, reason, headers as string[]);
    } catch (error) {
      // writeHead keeps the reason it was given; a later head must get its own.
      this.response.statusMessage = '';
      throw error;
    }
  }

  write(chunk: Buffer): boolean {
    if (this.response.write(chunk)) return true;
    if (!this.waitingForDrain) {
      this.waitingForDrain = true;
      (this.response as TaggedResponse)[REPLY] = this;
      this.response.once('drain', onResponseDrain);
    }
    return false;
  }

  end(chunk?: Buffer | string): void {
    this.response.end(chunk);
  }

  destroy(): void {
    this.response.destroy();
  }

  closedByClient(): void {
    if (!this.response.writableFinished) this.listenerValue?.onClientGone();
  }

  drained(): void {
    this.waitingForDrain = false;
    this.listenerValue?.onReplyDrain();
  }
}

function onResponseClose(this: TaggedResponse): void {
  this[REPLY]?.closedByClient();
}

function onResponseDrain(this: TaggedResponse): void {
  this[REPLY]?.drained();
}

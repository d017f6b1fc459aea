/** One dispatched Server-Sent Event. */
export interface SseMessage {
  /** The last `id:` seen so far on the stream (SSE carries it over to later events). */
  readonly id: string | undefined;
  /** `event:` field, `message` when absent. */
  readonly event: string;
  readonly data: string;
}

/**
 * Incremental parser for a text/event-stream body (the WHATWG "event stream interpretation"),
 * fed chunk by chunk as they arrive: a line may be split across chunks, lines end in LF, CRLF or
 * CR, comments (`: keep-alive`) are skipped, and an event is dispatched on a blank line. Pure, so
 * the follow loop's parsing is tested without a socket.
 */
export class SseParser {
  #buffer = '';
  #pendingCarriageReturn = false;
  #data: string[] = [];
  #event = '';
  #lastEventId: string | undefined;
  #retryMs: number | undefined;

  /** The id to resume from (Last-Event-ID) after a drop. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** The server's requested reconnection delay (`retry:`), if it sent one. */
  get retryMs(): number | undefined {
    return this.#retryMs;
  }

  push(chunk: string): SseMessage[] {
    let text = chunk;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.#pendingCarriageReturn && text.startsWith('\n')) text = text.slice(1);
    this.#pendingCarriageReturn = false;
    this.#buffer += text;

    const messages: SseMessage[] = [];
    const lineEnd = /\r\n|\r|\n/g;
    let start = 0;
    for (let match = lineEnd.exec(this.#buffer); match !== null; match = lineEnd.exec(this.#buffer)) {
      // A lone CR at the very end may still become CRLF with the next chunk.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) this.#pendingCarriageReturn = true;
      const message = this.#line(this.#buffer.slice(start, match.index));
      if (message !== undefined) messages.push(message);
      start = match.index + match[0].length;
    }
    this.#buffer = this.#buffer.slice(start);
    return messages;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (name) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored, as the SSE specification requires.
        break;
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    const data = this.#data;
    const event = this.#event;
    this.#data = [];
    this.#event = '';
    if (data.length === 0) return undefined;
    return { id: this.#lastEventId, event: event === '' ? 'message' : event, data: data.join('\n') };
  }
}

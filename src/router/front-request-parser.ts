/**
 * Recognises the common request the router answers on its fast path (front-connection.ts):
 * HTTP/1.1, no body, plain syntax. It accepts a deliberately small subset of what node:http
 * accepts and declines everything else (returns undefined): the connection is then handed to
 * node:http, which parses the same bytes itself and answers as it always did (including 400 for
 * what is malformed). So what this accepts must mean exactly what it means to node:http; what
 * it declines costs only speed.
 *
 * Accepted: `METHOD SP target SP HTTP/1.1` with a method below and an origin-form target of
 * unreserved, sub-delims, ':', '@', '/', '?' and '%' characters; header lines `name: value`
 * with a token name and a value of visible ASCII, spaces and tabs (trimmed); exactly one Host;
 * no Content-Length other than a single `0`; no Transfer-Encoding, Expect or Upgrade; a
 * Connection header of tokens; at most MAX_HEAD characters and MAX_HEADERS header lines.
 */

export interface FrontRequest {
  readonly method: string;
  readonly target: string;
  /** Flat `[name, value, …]` as sent, values without surrounding whitespace (as node:http's rawHeaders). */
  readonly rawHeaders: string[];
  /** The Host header's value. */
  readonly host: string;
  /** False when the client asked to close the connection after the response. */
  readonly keepAlive: boolean;
}

/** Longer heads go to node:http (whose own limit is 16 KiB). */
export const MAX_HEAD = 8_192;
const MAX_HEADERS = 64;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/** Characters of an accepted request target (RFC 3986 unreserved, sub-delims, ':', '@', '/', '?', '%'). */
const TARGET_CHAR = charTable("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%");
/** RFC 9110 tchar. */
const TOKEN_CHAR = charTable("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~");

/** Parses a request head (up to, not including, the blank line), or declines it. */
export function parseFrontRequest(head: string): FrontRequest | undefined {
  if (head.length > MAX_HEAD) return undefined;
  let lineEnd = head.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = head.length;
  const methodEnd = head.indexOf(' ');
  if (methodEnd <= 0 || methodEnd > 7) return undefined;
  const method = head.slice(0, methodEnd);
  if (!METHODS.has(method)) return undefined;
  const targetEnd = lineEnd - 9;
  if (targetEnd <= methodEnd + 1 || head.charCodeAt(methodEnd + 1) !== 47 /* / */ || !head.startsWith(' HTTP/1.1', targetEnd) || lineEnd !== targetEnd + 9) return undefined;
  for (let at = methodEnd + 1; at < targetEnd; at++) if (!TARGET_CHAR[head.charCodeAt(at)]) return undefined;
  const target = head.slice(methodEnd + 1, targetEnd);

  const rawHeaders: string[] = [];
  let host: string | undefined;
  let hosts = 0;
  let keepAlive = true;
  for (let start = lineEnd + 2; start < head.length; ) {
    if (rawHeaders.length === MAX_HEADERS * 2) return undefined;
    let end = head.indexOf('\r\n', start);
    if (end === -1) end = head.length;
    let colon = start;
    while (colon < end && TOKEN_CHAR[head.charCodeAt(colon)]) colon++;
    if (colon === start || colon === end || head.charCodeAt(colon) !== 58 /* : */) return undefined;
    let valueStart = colon + 1;
    let valueEnd = end;
    for (let at = valueStart; at < valueEnd; at++) {
      const code = head.charCodeAt(at);
      if ((code < 32 && code !== 9) || code > 126) return undefined;
    }
    while (valueStart < valueEnd && isWhitespace(head.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isWhitespace(head.charCodeAt(valueEnd - 1))) valueEnd--;
    const name = head.slice(start, colon);
    const value = head.slice(valueStart, valueEnd);
    start = end + 2;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          hosts++;
          host = value;
        }
        break;
      case 6:
        if (name.toLowerCase() === 'expect') return undefined;
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return undefined;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          const verdict = connectionVerdict(value);
          if (verdict === undefined) return undefined;
          if (verdict === 'close') keepAlive = false;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length' && value !== '0') return undefined;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return undefined;
        break;
    }
    rawHeaders.push(name, value);
  }
  if (hosts !== 1 || host === undefined || countContentLength(rawHeaders) > 1) return undefined;
  return { method, target, rawHeaders, host, keepAlive };
}

/** `close` when a Connection value asks to close, `keep` when not; undefined when it is not a plain list of tokens or asks to upgrade. */
function connectionVerdict(value: string): 'close' | 'keep' | undefined {
  const lower = value.toLowerCase();
  if (lower === 'keep-alive') return 'keep';
  if (lower === 'close') return 'close';
  let verdict: 'close' | 'keep' = 'keep';
  for (const part of lower.split(',')) {
    const token = part.trim();
    if (token === '') continue;
    for (let at = 0; at < token.length; at++) if (!TOKEN_CHAR[token.charCodeAt(at)]) return undefined;
    if (token === 'upgrade') return undefined;
    if (token === 'close') verdict = 'close';
  }
  return verdict;
}

function countContentLength(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) if (rawHeaders[index]!.length === 14 && rawHeaders[index]!.toLowerCase() === 'content-length') count++;
  return count;
}

function isWhitespace(code: number): boolean {
  return code === 32 || code === 9;
}

function charTable(chars: string): Uint8Array {
  const table = new Uint8Array(256);
  for (let index = 0; index < chars.length; index++) table[chars.charCodeAt(index)] = 1;
  return table;
}

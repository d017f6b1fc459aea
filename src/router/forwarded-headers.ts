/**
 * Header rewriting at the proxy hop, on Node's flat raw-header arrays ([name, value, name, value…]):
 * they keep the client's spelling and repeated headers, and cost no object per request.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, never the next one. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/**
 * Not forwarded: `Expect` is answered by the router's own server (Node sends 100 Continue itself),
 * and the gear client refuses to send it.
 */
const ANSWERED_HERE = 'expect';

/** The router's own X-Forwarded-* headers replace the client's (a client must not choose what the app trusts). */
const REPLACED = new Set(['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port']);

export interface ForwardedFacts {
  /** The peer address of the client connection. */
  readonly clientIp: string;
  /** The Host header as the client sent it (port included). */
  readonly host: string;
  readonly proto: 'http' | 'https';
  readonly port: string;
}

/**
 * Headers for the request to the gear: hop-by-hop headers (and those the client's Connection header
 * names) removed, X-Forwarded-For appended with the client IP, X-Forwarded-Host/-Proto/-Port set
 * by this hop. Host is kept as sent: apps build their own URLs from it.
 */
export function backendRequestHeaders(rawHeaders: readonly string[], facts: ForwardedFacts): string[] {
  const connectionListed = listedInConnection(rawHeaders);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REPLACED.has(lower) || lower === ANSWERED_HERE || (connectionListed !== undefined && connectionListed.has(lower))) continue;
    if (lower === 'x-forwarded-for') {
      // Several X-Forwarded-For lines are one list (RFC 9110 §5.3); fold them, then append.
      forwardedFor = forwardedFor === undefined ? rawHeaders[index + 1]! : `${forwardedFor}, ${rawHeaders[index + 1]!}`;
      continue;
    }
    out.push(name, rawHeaders[index + 1]!);
  }
  out.push(
    'X-Forwarded-For',
    forwardedFor === undefined ? facts.clientIp : `${forwardedFor}, ${facts.clientIp}`,
    'X-Forwarded-Host',
    facts.host,
    'X-Forwarded-Proto',
    facts.proto,
    'X-Forwarded-Port',
    facts.port,
  );
  return out;
}

/**
 * The gear's response headers (an object with lower-case keys, as the gear client parses them)
 * without hop-by-hop ones, changed in place: the object is the client's to keep and is used once.
 */
export function stripHopByHop(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const token of String(connection).split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
  return headers;
}

/**
 * The gear's response headers (an object with lower-case keys, as the gear client parses them)
 * as the flat list `writeHead` takes, in the same order, without hop-by-hop ones: the same
 * headers `stripHopByHop` leaves, without deleting properties from the object.
 */
export function responseHeaderList(headers: Record<string, string | string[] | undefined>): (string | string[])[] {
  let listed: Set<string> | undefined;
  const connection = headers.connection;
  // `keep-alive` (what most gears send) names only a header that is hop-by-hop anyway.
  if (connection !== undefined && connection !== 'keep-alive') {
    for (const token of String(connection).split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') (listed ??= new Set()).add(name);
    }
  }
  const list: (string | string[])[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || (listed !== undefined && listed.has(name))) continue;
    list.push(name, value);
  }
  return list;
}

/** Names the Connection header lists as hop-by-hop (besides keep-alive/close), or undefined. */
function listedInConnection(rawHeaders: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]!.length !== 10 || rawHeaders[index]!.toLowerCase() !== 'connection') continue;
    for (const token of rawHeaders[index + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (name === '' || name === 'close' || name === 'keep-alive') continue;
      (listed ??= new Set()).add(name);
    }
  }
  return listed;
}

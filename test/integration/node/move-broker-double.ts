/**
 * TEST DOUBLE of the broker, node side only: the calls a node agent makes, following the
 * contracts of docs/moves.md ("Node agents") and of the node API (register, heartbeat, the
 * desired-gears watch, gear reports, app source). It was written before the broker's move
 * endpoints (`POST /nodes/:name/moves/verify`, `PUT /nodes/:name/moves/:moveId`, `move` in desired
 * gears) landed, and is kept for what the real mover cannot be made to do on cue: hold a move at
 * a phase. The test drives it: it sets each node's desired list, registers moves with their
 * tokens, and reads what the agents reported. Like the real broker, `verify` answers 403 to any
 * mismatch and the move report 404 to an unknown move.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface MoveReport {
  readonly node: string;
  readonly moveId: string;
  readonly body: { state: 'started' | 'failed'; endpoint?: string; pauseMs?: number; error?: string };
}

export interface MoveBrokerDouble {
  readonly url: string;
  readonly bootstrapToken: string;
  /** Replaces a node's desired list (the items as `GET /nodes/:name/gears` serves them). */
  setDesired(node: string, items: readonly object[]): void;
  /** A move the broker would know: the token `verify` accepts, for which gear on which source node. */
  addMove(moveId: string, move: { gearId: string; from: string; token: string }): void;
  removeMove(moveId: string): void;
  /** The agent's own URL, as it registered. */
  nodeUrl(node: string): string | undefined;
  readonly moveReports: MoveReport[];
  readonly gearReports: { node: string; gearId: string; body: { observedState: string; endpoint: string | null } }[];
  readonly verifyCalls: { node: string; moveId: string }[];
  /** Serves the source archive for every gear with a sourceVersion. */
  setSourceArchive(archive: Uint8Array): void;
  close(): Promise<void>;
}

export async function startMoveBrokerDouble(): Promise<MoveBrokerDouble> {
  const bootstrapToken = 'double-bootstrap-token';
  const nodes = new Map<string, { credential: string; endpoint: string; version: number; items: readonly object[]; waiters: Set<() => void> }>();
  const moves = new Map<string, { gearId: string; from: string; token: string }>();
  const moveReports: MoveReport[] = [];
  const gearReports: MoveBrokerDouble['gearReports'] = [];
  const verifyCalls: MoveBrokerDouble['verifyCalls'] = [];
  let sourceArchive: Uint8Array | undefined;

  const nodeOf = (name: string) => {
    let node = nodes.get(name);
    if (!node) {
      node = { credential: `double-credential-${name}`, endpoint: '', version: 1, items: [], waiters: new Set() };
      nodes.set(name, node);
    }
    return node;
  };

  const json = (response: ServerResponse, status: number, body?: unknown) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(text);
  };
  const readJson = async (request: IncomingMessage): Promise<any> => {
    let text = '';
    for await (const chunk of request) text += chunk;
    return text === '' ? undefined : JSON.parse(text);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://double');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (parts[0] !== 'api' || parts[1] !== 'v1' || parts[2] !== 'nodes') return json(response, 404, { error: { code: 'route_not_found', message: url.pathname } });
    if (request.method === 'POST' && parts[3] === 'register') {
      if (token !== bootstrapToken) return json(response, 401, { error: { code: 'unauthenticated', message: 'bad bootstrap token' } });
      const body = await readJson(request);
      const node = nodeOf(body.name);
      node.endpoint = body.endpoint;
      return json(response, 201, { credential: node.credential, heartbeatIntervalSeconds: 1 });
    }
    const name = parts[3]!;
    const node = nodes.get(name);
    if (!node || token !== node.credential) return json(response, 401, { error: { code: 'unauthenticated', message: 'not this node' } });
    const rest = parts.slice(4).join('/');
    if (request.method === 'POST' && rest === 'heartbeat') return json(response, 204);
    if (request.method === 'GET' && rest === 'gears') {
      const since = url.searchParams.get('since');
      if (since !== null && Number(since) === node.version) {
        const waitMs = Math.min(60, Number(url.searchParams.get('wait') ?? 30)) * 1000;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            node.waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, waitMs);
          node.waiters.add(done);
          request.once('close', done);
        });
        if (Number(since) === node.version) return json(response, 304);
      }
      return json(response, 200, { version: String(node.version), items: node.items });
    }
    if (request.method === 'PUT' && parts[4] === 'gears' && parts.length === 6) {
      gearReports.push({ node: name, gearId: parts[5]!, body: await readJson(request) });
      return json(response, 204);
    }
    if (request.method === 'GET' && parts[4] === 'gears' && parts[6] === 'source') {
      if (!sourceArchive) return json(response, 404, { error: { code: 'not_found', message: 'no source' } });
      response.writeHead(200, { 'content-type': 'application/gzip' });
      return response.end(Buffer.from(sourceArchive));
    }
    if (request.method === 'POST' && rest === 'moves/verify') {
      const body = await readJson(request);
      verifyCalls.push({ node: name, moveId: body.moveId });
      const move = moves.get(body.moveId);
      // Only the source node may ask, and only with the move's own token.
      if (!move || move.from !== name || move.token !== body.token) return json(response, 403, { error: { code: 'invalid_move_token', message: 'not a token of this move' } });
      return json(response, 200, { gearId: move.gearId });
    }
    if (request.method === 'PUT' && parts[4] === 'moves' && parts.length === 6) {
      const moveId = parts[5]!;
      const body = await readJson(request);
      moveReports.push({ node: name, moveId, body });
      return json(response, moves.has(moveId) ? 204 : 404, moves.has(moveId) ? undefined : { error: { code: 'not_found', message: 'no such move' } });
    }
    return json(response, 404, { error: { code: 'route_not_found', message: `${request.method} ${url.pathname}` } });
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => json(response, 500, { error: { code: 'internal', message: (error as Error).message } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    bootstrapToken,
    setDesired(name, items) {
      const node = nodeOf(name);
      node.items = items;
      node.version++;
      for (const wake of [...node.waiters]) wake();
    },
    addMove: (moveId, move) => void moves.set(moveId, move),
    removeMove: (moveId) => void moves.delete(moveId),
    nodeUrl: (name) => nodes.get(name)?.endpoint || undefined,
    moveReports,
    gearReports,
    verifyCalls,
    setSourceArchive(archive) {
      sourceArchive = archive;
    },
    async close() {
      for (const node of nodes.values()) for (const wake of [...node.waiters]) wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

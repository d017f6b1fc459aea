/**
 * TEST DOUBLE of the broker's REST API contract (/api/v1), NOT the broker. It is a tiny real
 * node:http server serving the contract's shapes from memory, so the CLI's integration tests can
 * spawn the real `geartide` binary against real HTTP before the broker exists. It records every
 * request so tests can check what the CLI sent. Once src/broker/broker.ts exports
 * startBroker(options), these tests move to the real broker and this file goes away.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

interface DoubleUser {
  id: string;
  login: string;
  role: 'admin' | 'user';
  maxGears: number;
  createdAt: string;
}

interface DoubleEvent {
  id: number;
  time: string;
  kind: string;
  severity: string;
  subject: string;
  message: string;
  data: Record<string, unknown>;
}

export const ADMIN_TOKEN = 'gt_admin_0123456789abcdef';
export const ALICE_TOKEN = 'gt_alice_0123456789abcdef';
const CREATED = '2025-01-02T03:04:05.000Z';

class HttpProblem extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

export interface BrokerDouble {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Append an event; it reaches open --follow streams at once. */
  addEvent(event: Omit<DoubleEvent, 'id' | 'time' | 'data'> & { time?: string }): DoubleEvent;
  /** Cut every open event stream, as a broker restart would. */
  dropStreams(): void;
  /** Resolves when an event stream is open (the n-th one since start, 1-based). */
  streamOpened(n: number): Promise<RecordedRequest>;
  close(): Promise<void>;
  readonly state: {
    users: Map<string, DoubleUser>;
    tokens: Map<string, { id: string; login: string; name: string; createdAt: string; expiresAt: string | null }>;
    domains: Map<string, { id: string; name: string; owner: string; createdAt: string }>;
    apps: Map<string, Record<string, unknown> & { name: string; domain: string; gears: Record<string, unknown>[]; scale: { min: number; max: number }; desiredState: string; restartGeneration: number }>;
    districts: Map<string, { id: string; name: string; gearProfile: string; firstUid: number; maxCapacity: number; availableUids: number; createdAt: string; nodes: { name: string; active: boolean; state: string }[] }>;
    nodes: Map<string, Record<string, unknown> & { name: string; state: string }>;
    events: DoubleEvent[];
  };
}

export async function startBrokerDouble(): Promise<BrokerDouble> {
  const requests: RecordedRequest[] = [];
  const users = new Map<string, DoubleUser>([
    ['admin', { id: 'u-admin', login: 'admin', role: 'admin', maxGears: 100, createdAt: CREATED }],
    ['alice', { id: 'u-alice', login: 'alice', role: 'user', maxGears: 10, createdAt: CREATED }],
  ]);
  const tokens = new Map([
    [ADMIN_TOKEN, { id: 't-admin', login: 'admin', name: 'bootstrap', createdAt: CREATED, expiresAt: null as string | null }],
    [ALICE_TOKEN, { id: 't-alice', login: 'alice', name: 'default', createdAt: CREATED, expiresAt: null as string | null }],
  ]);
  const state: BrokerDouble['state'] = { users, tokens, domains: new Map(), apps: new Map(), districts: new Map(), nodes: new Map(), events: [] };
  const streams = new Set<{ response: ServerResponse; kind: string | null }>();
  const streamWaiters: { n: number; resolve: (request: RecordedRequest) => void }[] = [];
  let streamCount = 0;
  let nextId = 1;
  const id = (prefix: string): string => `${prefix}-${nextId++}`;

  function writeEvent(response: ServerResponse, event: DoubleEvent): void {
    response.write(`id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`);
  }

  const addEvent: BrokerDouble['addEvent'] = (input) => {
    const event: DoubleEvent = { id: state.events.length + 1, time: input.time ?? new Date(Date.UTC(2025, 0, 2, 3, 4, state.events.length)).toISOString(), kind: input.kind, severity: input.severity, subject: input.subject, message: input.message, data: {} };
    state.events.push(event);
    for (const stream of streams) if (stream.kind === null || event.kind === stream.kind) writeEvent(stream.response, event);
    return event;
  };

  function caller(request: IncomingMessage): DoubleUser {
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const record = tokens.get(token);
    // Echo the token back on purpose: the CLI must mask it, whatever a broker says.
    if (record === undefined) throw new HttpProblem(401, 'unauthenticated', token === '' ? 'a valid bearer token is required' : `token ${token} is not valid`);
    return users.get(record.login)!;
  }

  function requireAdmin(user: DoubleUser): void {
    if (user.role !== 'admin') throw new HttpProblem(403, 'forbidden', 'this needs the admin role');
  }

  function nameOk(name: unknown, field: string): string {
    if (typeof name !== 'string' || !/^[a-z0-9]{1,32}$/.test(name)) throw new HttpProblem(400, 'invalid_name', `${field} must be 1 to 32 lower-case letters or digits`, field);
    return name;
  }

  function ownDomain(user: DoubleUser, name: string) {
    const domain = state.domains.get(name);
    if (domain === undefined || (domain.owner !== user.login && user.role !== 'admin')) throw new HttpProblem(404, 'domain_not_found', `domain '${name}' not found`);
    return domain;
  }

  function getApp(user: DoubleUser, domain: string, name: string) {
    ownDomain(user, domain);
    const app = state.apps.get(`${domain}/${name}`);
    if (app === undefined) throw new HttpProblem(404, 'app_not_found', `app '${domain}/${name}' not found`);
    return app;
  }

  function getDistrict(name: string) {
    const district = state.districts.get(name);
    if (district === undefined) throw new HttpProblem(404, 'district_not_found', `district '${name}' not found`);
    return district;
  }

  function gearsFor(appName: string, domain: string, count: number, desiredState: string): Record<string, unknown>[] {
    return Array.from({ length: count }, (_, index) => ({
      id: id('gear'),
      uid: 1000 + index,
      node: `node-${index + 1}`,
      district: 'small1',
      desiredState,
      observedState: index === 0 ? desiredState : 'new',
      endpoint: index === 0 ? `127.0.0.1:${35000 + index}` : null,
      createdAt: CREATED,
      app: appName,
      domain,
    }));
  }

  type Handler = (match: string[], user: () => DoubleUser, body: any, request: IncomingMessage, response: ServerResponse) => [number, unknown] | 'stream';
  const routes: [string, RegExp, Handler][] = [
    ['GET', /^\/health$/, () => [200, { status: 'ok', store: 'sqlite', version: '0.1.0' }]],
    ['GET', /^\/user$/, (_m, user) => [200, { ...pick(user(), 'id', 'login', 'role', 'maxGears'), gearsUsed: [...state.apps.values()].filter((app) => state.domains.get(app.domain)?.owner === user().login).reduce((sum, app) => sum + app.gears.length, 0) }]],
    ['POST', /^\/user\/tokens$/, (_m, user, body) => {
      const token = `gt_new_${nextId}_abcdefghijkl`;
      const record = { id: id('tok'), login: user().login, name: body?.name ?? 'cli', createdAt: CREATED, expiresAt: body?.expiresInSeconds === undefined ? null : new Date(Date.parse(CREATED) + body.expiresInSeconds * 1000).toISOString() };
      tokens.set(token, record);
      return [201, { id: record.id, name: record.name, token, expiresAt: record.expiresAt }];
    }],
    ['GET', /^\/user\/tokens$/, (_m, user) => [200, { items: [...tokens.values()].filter((t) => t.login === user().login).map((t) => pick(t, 'id', 'name', 'createdAt', 'expiresAt')) }]],
    ['DELETE', /^\/user\/tokens\/([^/]+)$/, ([tokenId], user) => {
      const entry = [...tokens.entries()].find(([, t]) => t.id === tokenId && t.login === user().login);
      if (entry === undefined) throw new HttpProblem(404, 'token_not_found', `token '${tokenId}' not found`);
      tokens.delete(entry[0]);
      return [204, undefined];
    }],
    ['POST', /^\/users$/, (_m, user, body) => {
      requireAdmin(user());
      const login = nameOk(body?.login, 'login');
      if (users.has(login)) throw new HttpProblem(409, 'user_exists', `user '${login}' already exists`, 'login');
      const created: DoubleUser = { id: id('u'), login, role: body.role ?? 'user', maxGears: body.maxGears ?? 10, createdAt: CREATED };
      users.set(login, created);
      const token = `gt_user_${login}_0123456789`;
      tokens.set(token, { id: id('tok'), login, name: 'initial', createdAt: CREATED, expiresAt: null });
      return [201, { user: created, token }];
    }],
    ['GET', /^\/users$/, (_m, user) => (requireAdmin(user()), [200, { items: [...users.values()] }])],
    ['DELETE', /^\/users\/([^/]+)$/, ([login], user) => {
      requireAdmin(user());
      if (!users.delete(login!)) throw new HttpProblem(404, 'user_not_found', `user '${login}' not found`);
      return [204, undefined];
    }],
    ['POST', /^\/domains$/, (_m, user, body) => {
      const name = nameOk(body?.name, 'name');
      if (state.domains.has(name)) throw new HttpProblem(409, 'domain_exists', `domain '${name}' already exists`, 'name');
      const domain = { id: id('dom'), name, owner: user().login, createdAt: CREATED };
      state.domains.set(name, domain);
      return [201, domain];
    }],
    ['GET', /^\/domains$/, (_m, user) => [200, { items: [...state.domains.values()].filter((d) => user().role === 'admin' || d.owner === user().login) }]],
    ['GET', /^\/domains\/([^/]+)$/, ([name], user) => [200, ownDomain(user(), name!)]],
    ['DELETE', /^\/domains\/([^/]+)$/, ([name], user) => {
      ownDomain(user(), name!);
      if ([...state.apps.values()].some((app) => app.domain === name)) throw new HttpProblem(409, 'domain_not_empty', `domain '${name}' still holds apps`);
      state.domains.delete(name!);
      return [204, undefined];
    }],
    ['POST', /^\/domains\/([^/]+)\/apps$/, ([domain], user, body) => {
      ownDomain(user(), domain!);
      const name = nameOk(body?.name, 'name');
      if (state.apps.has(`${domain}/${name}`)) throw new HttpProblem(409, 'app_exists', `app '${name}' already exists in domain '${domain}'`, 'name');
      if (body.cartridge === 'nocapacity') throw new HttpProblem(409, 'no_capacity', 'no node host of profile small has room for a gear', 'gearProfile');
      const scale = body.scale ?? { min: 1, max: 1 };
      const app = { id: id('app'), name, domain: domain!, url: `http://${name}-${domain}.apps.test`, cartridge: body.cartridge, gearProfile: body.gearProfile ?? 'small', scale, desiredState: 'started', restartGeneration: 0, createdAt: CREATED, gears: gearsFor(name, domain!, body.gears ?? scale.min, 'started') };
      state.apps.set(`${domain}/${name}`, app);
      return [201, app];
    }],
    ['GET', /^\/domains\/([^/]+)\/apps$/, ([domain], user) => (ownDomain(user(), domain!), [200, { items: [...state.apps.values()].filter((app) => app.domain === domain) }])],
    ['GET', /^\/apps$/, (_m, user) => [200, { items: [...state.apps.values()].filter((app) => user().role === 'admin' || state.domains.get(app.domain)?.owner === user().login) }]],
    ['GET', /^\/domains\/([^/]+)\/apps\/([^/]+)$/, ([domain, name], user) => [200, getApp(user(), domain!, name!)]],
    ['DELETE', /^\/domains\/([^/]+)\/apps\/([^/]+)$/, ([domain, name], user) => (getApp(user(), domain!, name!), state.apps.delete(`${domain}/${name}`), [204, undefined])],
    ['POST', /^\/domains\/([^/]+)\/apps\/([^/]+)\/(start|stop|restart)$/, ([domain, name, action], user) => {
      const app = getApp(user(), domain!, name!);
      if (action === 'restart') app.restartGeneration += 1;
      else app.desiredState = action === 'start' ? 'started' : 'stopped';
      for (const gear of app.gears) gear.desiredState = app.desiredState;
      return [200, app];
    }],
    ['POST', /^\/domains\/([^/]+)\/apps\/([^/]+)\/scale$/, ([domain, name], user, body) => {
      const app = getApp(user(), domain!, name!);
      if (typeof body?.gears === 'number') {
        if (body.gears > app.scale.max) throw new HttpProblem(400, 'out_of_range', `gears must be within ${app.scale.min}..${app.scale.max}`, 'gears');
        app.gears = gearsFor(app.name, app.domain, body.gears, app.desiredState);
      } else {
        if (typeof body?.min !== 'number' || typeof body?.max !== 'number') throw new HttpProblem(400, 'invalid_input', 'min and max are both required', 'min');
        app.scale = { min: body.min, max: body.max };
      }
      return [200, app];
    }],
    ['POST', /^\/districts$/, (_m, user, body) => {
      requireAdmin(user());
      const name = nameOk(body?.name, 'name');
      const district = { id: id('dist'), name, gearProfile: body.gearProfile ?? 'small', firstUid: body.firstUid ?? 1000, maxCapacity: body.maxCapacity ?? 6000, availableUids: body.maxCapacity ?? 6000, createdAt: CREATED, nodes: [] };
      state.districts.set(name, district);
      return [201, district];
    }],
    ['GET', /^\/districts$/, (_m, user) => (requireAdmin(user()), [200, { items: [...state.districts.values()] }])],
    ['GET', /^\/districts\/([^/]+)$/, ([name], user) => (requireAdmin(user()), [200, getDistrict(name!)])],
    ['POST', /^\/districts\/([^/]+)\/nodes$/, ([name], user, body) => {
      requireAdmin(user());
      const district = getDistrict(name!);
      if (!state.nodes.has(body?.node)) throw new HttpProblem(404, 'node_not_found', `node '${body?.node}' not found`, 'node');
      district.nodes.push({ name: body.node, active: true, state: 'active' });
      return [200, district];
    }],
    ['DELETE', /^\/districts\/([^/]+)\/nodes\/([^/]+)$/, ([name, node], user) => {
      requireAdmin(user());
      const district = getDistrict(name!);
      district.nodes = district.nodes.filter((entry) => entry.name !== node);
      return [200, district];
    }],
    ['POST', /^\/districts\/([^/]+)\/nodes\/([^/]+)\/(activate|deactivate)$/, ([name, node, action], user) => {
      requireAdmin(user());
      const district = getDistrict(name!);
      const entry = district.nodes.find((candidate) => candidate.name === node);
      if (entry === undefined) throw new HttpProblem(404, 'node_not_found', `node '${node}' is not in district '${name}'`, 'node');
      entry.active = action === 'activate';
      entry.state = entry.active ? 'active' : 'deactivated';
      return [200, district];
    }],
    ['POST', /^\/districts\/([^/]+)\/capacity$/, ([name], user, body) => {
      requireAdmin(user());
      const district = getDistrict(name!);
      const delta = (body?.add ?? 0) - (body?.remove ?? 0);
      if (district.availableUids + delta < 0) throw new HttpProblem(409, 'uids_in_use', 'cannot remove UIDs that gears hold', 'remove');
      district.maxCapacity += delta;
      district.availableUids += delta;
      return [200, district];
    }],
    ['GET', /^\/nodes$/, (_m, user) => (requireAdmin(user()), [200, { items: [...state.nodes.values()] }])],
    ['GET', /^\/nodes\/([^/]+)$/, ([name], user) => {
      requireAdmin(user());
      const node = state.nodes.get(name!);
      if (node === undefined) throw new HttpProblem(404, 'node_not_found', `node '${name}' not found`);
      return [200, node];
    }],
    ['GET', /^\/events$/, (_m, user, _body, request, response) => {
      user();
      const query = new URL(request.url!, 'http://double').searchParams;
      const lastEventId = request.headers['last-event-id'];
      const after = Number(typeof lastEventId === 'string' ? lastEventId : query.get('after') ?? 0);
      const kind = query.get('kind');
      const matching = state.events.filter((event) => event.id > after && (kind === null || event.kind === kind));
      if (query.get('follow') !== 'true') return [200, { items: matching.slice(0, Number(query.get('limit') ?? 100)) }];
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      response.write(': keep-alive\n\n');
      for (const event of matching) writeEvent(response, event);
      const stream = { response, kind };
      streams.add(stream);
      response.on('close', () => streams.delete(stream));
      streamCount += 1;
      const recorded = requests.at(-1)!;
      for (const waiter of streamWaiters.filter((w) => w.n === streamCount)) waiter.resolve(recorded);
      return 'stream';
    }],
  ];

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://double');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      const path = url.pathname.replace(/^\/api\/v1/, '');
      requests.push({ method: request.method ?? 'GET', path, query: url.searchParams, headers: request.headers, body });
      try {
        for (const [method, pattern, handler] of routes) {
          const match = pattern.exec(path);
          if (method !== request.method || match === null) continue;
          // Every route but /health needs a valid token, whether or not the handler reads the user.
          const user = path === '/health' ? undefined : caller(request);
          const result = handler(match.slice(1).map(decodeURIComponent), () => user ?? caller(request), body, request, response);
          if (result === 'stream') return;
          const [status, payload] = result;
          if (payload === undefined) {
            response.writeHead(status).end();
          } else {
            response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
          }
          return;
        }
        throw new HttpProblem(404, 'route_not_found', `no route ${request.method} ${path}`);
      } catch (error) {
        const problem = error instanceof HttpProblem ? error : new HttpProblem(500, 'internal', String(error));
        const payload = { error: { code: problem.code, message: problem.message, ...(problem.field === undefined ? {} : { field: problem.field }) } };
        response.writeHead(problem.status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    state,
    addEvent,
    dropStreams() {
      for (const stream of streams) stream.response.destroy();
      streams.clear();
    },
    streamOpened(n) {
      if (streamCount >= n) return Promise.resolve(requests.filter((r) => r.query.get('follow') === 'true')[n - 1]!);
      return new Promise((resolve) => streamWaiters.push({ n, resolve }));
    },
    async close() {
      for (const stream of streams) stream.response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function pick<T extends object, K extends keyof T>(value: T, ...keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) out[key] = value[key];
  return out;
}

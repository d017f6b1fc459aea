import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { poolExhaustion, type ApiApp, type ApiAutoscalerPool, type ApiAutoscalerStatus, type ApiDistrict, type ApiEvent, type ApiNode, type ApiRouter } from '../cli/api-types.ts';

/**
 * The web console: a read-only view of the platform, rendered by the broker from its own REST
 * API (each page asks the API with the signed-in user's token, so it shows exactly what that
 * user may see: an admin sees pools, node hosts, routers and events, a developer their apps).
 *
 * No script runs in the page: it is plain HTML that reloads itself, under a Content Security
 * Policy that allows nothing but its own stylesheet. Signing in stores the API token in a cookie
 * the page's scripts could not read anyway (HttpOnly), sent only to /console (Path) and never
 * from another site (SameSite=Strict); every value shown is HTML-escaped.
 */

const COOKIE = 'geartide_console';
const REFRESH_SECONDS = 5;
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function registerConsoleRoutes(server: FastifyInstance, apiPrefix: string): void {
  server.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  /** The API's answer to GET `path` for `token`, or its status when it is not a 200. */
  const api = async <T>(token: string, path: string): Promise<Answer<T>> => {
    const response = await server.inject({ method: 'GET', url: `${apiPrefix}${path}`, headers: { authorization: `Bearer ${token}` } });
    if (response.statusCode === 200) return { ok: true, body: response.json() as T };
    let message = response.body;
    try {
      message = (response.json() as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: show the text
    }
    return { ok: false, status: response.statusCode, message };
  };

  const page = (reply: FastifyReply, status: number, title: string, body: string, refresh: boolean) =>
    reply
      .status(status)
      .headers({ ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' })
      .send(
        `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escape(title)} · geartide</title>` +
          `${refresh ? `<meta http-equiv="refresh" content="${REFRESH_SECONDS}">` : ''}<link rel="stylesheet" href="/console/style.css"></head>` +
          `<body><header><h1>geartide</h1><span>${escape(title)}</span></header><main>${body}</main></body></html>\n`,
      );

  const signIn = (reply: FastifyReply, status: number, problem?: string) =>
    page(
      reply,
      status,
      'sign in',
      `${problem === undefined ? '' : `<p class="error">${escape(problem)}</p>`}` +
        '<form method="post" action="/console/login"><label>API token <input type="password" name="token" autocomplete="off" required></label> <button>Sign in</button></form>' +
        '<p class="hint">A token of <code>geartide token create</code>, or the one <code>geartide admin user create</code> printed (<code>geartide up</code> keeps the admin\'s in <code>~/.geartide/config.json</code>). It is kept in a cookie for this console only.</p>',
      false,
    );

  server.get('/console/style.css', { schema: { hide: true } }, async (_request, reply) => reply.headers({ ...SECURITY_HEADERS, 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=300' }).send(STYLE));

  server.post('/console/login', { schema: { hide: true } }, async (request: FastifyRequest, reply) => {
    // A form posted from another site would sign this browser in as someone else.
    if (!sameOrigin(request)) return signIn(reply, 403, 'sign in from this console\'s own page');
    const token = typeof (request.body as { token?: unknown } | undefined)?.token === 'string' ? (request.body as { token: string }).token.trim() : '';
    if (token === '') return signIn(reply, 400, 'give an API token');
    const user = await api<{ login: string }>(token, '/user');
    if (!user.ok) return signIn(reply, 401, `that token is not accepted: ${user.message}`);
    const secure = request.protocol === 'https' ? '; Secure' : '';
    return reply
      .status(303)
      .headers({ ...SECURITY_HEADERS, location: '/console', 'set-cookie': `${COOKIE}=${encodeURIComponent(token)}; Path=/console; HttpOnly; SameSite=Strict${secure}` })
      .send();
  });

  server.post('/console/logout', { schema: { hide: true } }, async (request, reply) =>
    !sameOrigin(request) ? signIn(reply, 403, 'sign out from this console\'s own page') : reply.status(303).headers({ ...SECURITY_HEADERS, location: '/console', 'set-cookie': `${COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0` }).send(),
  );

  server.get('/console', { schema: { hide: true } }, async (request, reply) => {
    const token = cookieValue(request.headers.cookie, COOKIE);
    if (token === undefined) return signIn(reply, 200);
    const user = await api<{ login: string; role: string; maxGears: number }>(token, '/user');
    if (!user.ok) return signIn(reply, 401, `signed out: ${user.message}`);
    const sections: string[] = [
      `<p class="who">${escape(user.body.login)} (${escape(user.body.role)}) · refreshes every ${REFRESH_SECONDS} s · <form class="inline" method="post" action="/console/logout"><button>Sign out</button></form></p>`,
    ];
    if (user.body.role === 'admin') {
      const [autoscaler, districts, nodes, routers, events] = await Promise.all([
        api<ApiAutoscalerStatus>(token, '/autoscaler'),
        api<{ items: ApiDistrict[] }>(token, '/districts'),
        api<{ items: ApiNode[] }>(token, '/nodes'),
        api<{ items: ApiRouter[] }>(token, '/routers'),
        api<{ items: ApiEvent[] }>(token, '/events?limit=30&newest=true'),
      ]);
      sections.push(poolsSection(autoscaler), districtsSection(districts), nodesSection(nodes), routersSection(routers), eventsSection(events));
    } else {
      sections.push(appsSection(await api<{ items: ApiApp[] }>(token, '/apps')));
    }
    return page(reply, 200, user.body.role === 'admin' ? 'platform' : 'your apps', sections.join('\n'), true);
  });
}

/** The API's answer to a GET: its body, or the status and the error's sentence. */
type Answer<T> = { ok: true; body: T } | { ok: false; status: number; message: string };

function poolsSection(answer: Answer<ApiAutoscalerStatus>): string {
  if (!answer.ok) return section('Pools', `<p class="muted">${escape(answer.message)}</p>`);
  const status = answer.body;
  const rows = status.pools.map((pool: ApiAutoscalerPool) => {
    const exhausted = poolExhaustion(pool);
    const running = pool.operations.map((operation) => operation.kind).join(', ');
    const state = exhausted !== null ? '<span class="bad">EXHAUSTED</span>' : pool.paused !== null ? `<span class="warn">paused by ${escape(pool.paused.by)}</span>` : running !== '' ? escape(running) : 'ok';
    const nodes = Object.entries(pool.nodes).map(([nodeState, count]) => `${count} ${nodeState}`).join(', ') || 'none';
    return row([
      escape(pool.name),
      escape(pool.profile),
      escape(nodes),
      `${pool.min}–${pool.max}`,
      `${pool.usage.activeGears}/${pool.usage.capacity} (${pool.usage.pct}%)`,
      state,
      escape(pool.plan.kind),
      `${escape(pool.plan.reason)}${exhausted === null || pool.plan.reason.includes(exhausted) ? '' : `<br><span class="bad">${escape(exhausted)}</span>`}`,
    ]);
  });
  const head = `<p class="muted">provider ${escape(status.provider)}, every ${status.intervalSeconds} s, up at ${status.upThresholdPct}%</p>`;
  return section('Pools', head + table(['pool', 'profile', 'nodes', 'min–max', 'active/capacity', 'state', 'next', 'why'], rows));
}

function districtsSection(answer: Answer<{ items: ApiDistrict[] }>): string {
  if (!answer.ok) return section('Districts', `<p class="muted">${escape(answer.message)}</p>`);
  const rows = answer.body.items.map((district) => {
    const active = district.nodes.filter((node) => node.active).length;
    // A district's capacity is its UIDs left: a gear cannot be placed in one that has none.
    const uids = `${district.availableUids}/${district.maxCapacity}`;
    return row([escape(district.name), escape(district.gearProfile), `${district.nodes.length} (${active} active)`, district.availableUids === 0 ? `<span class="bad">${uids}</span>` : uids]);
  });
  return section('Districts', rows.length === 0 ? '<p class="muted">no district yet: <code>geartide admin district create NAME --profile small</code></p>' : table(['district', 'profile', 'nodes', 'UIDs left'], rows));
}

function nodesSection(answer: Answer<{ items: ApiNode[] }>): string {
  if (!answer.ok) return section('Node hosts', `<p class="muted">${escape(answer.message)}</p>`);
  const rows = answer.body.items.map((node) =>
    row([escape(node.name), escape(node.state), escape(node.gearProfile), escape(node.district ?? '-'), `${node.placedActiveGears}/${node.maxActiveGears}`, `${node.activeUsagePct}%`, escape(node.lastHeartbeatAt ?? 'never')]),
  );
  return section('Node hosts', rows.length === 0 ? '<p class="muted">no node host has registered</p>' : table(['name', 'state', 'profile', 'district', 'active/max', 'usage', 'last heartbeat'], rows));
}

function routersSection(answer: Answer<{ items: ApiRouter[] }>): string {
  if (!answer.ok) return section('Routers', `<p class="muted">${escape(answer.message)}</p>`);
  const rows = answer.body.items.map((router) => row([escape(router.name), escape(router.lastSeenAt), escape(router.lastServedAt), router.countedByMoves ? 'yes' : 'no']));
  return section('Routers', rows.length === 0 ? '<p class="muted">no router has asked for the route table in the last hour</p>' : table(['name', 'last seen', 'table current', 'moves wait for it'], rows));
}

function eventsSection(answer: Answer<{ items: ApiEvent[] }>): string {
  if (!answer.ok) return section('Events', `<p class="muted">${escape(answer.message)}</p>`);
  const rows = [...answer.body.items].reverse().map((event) => row([escape(event.time), `<span class="${event.severity === 'error' ? 'bad' : event.severity === 'warning' ? 'warn' : ''}">${escape(event.kind)}</span>`, escape(event.message)]));
  return section('Recent events', rows.length === 0 ? '<p class="muted">none yet</p>' : table(['time', 'kind', 'what'], rows));
}

function appsSection(answer: Answer<{ items: ApiApp[] }>): string {
  if (!answer.ok) return section('Apps', `<p class="muted">${escape(answer.message)}</p>`);
  const rows = answer.body.items.map((app) => {
    const gears = app.gears.map((gear) => `${escape(gear.observedState)} on ${escape(gear.node)}`).join('<br>') || 'none';
    // Only http(s) URLs become links (they are the broker's own, but nothing is trusted here).
    const url = /^https?:\/\//.test(app.url) ? `<a href="${escape(app.url)}">${escape(app.url)}</a>` : escape(app.url);
    return row([escape(`${app.name}-${app.domain}`), escape(app.cartridge), escape(app.desiredState), url, gears]);
  });
  return section('Apps', rows.length === 0 ? '<p class="muted">no app yet: <code>geartide app create NAME nodejs -n DOMAIN</code></p>' : table(['app', 'cartridge', 'desired', 'URL', 'gears'], rows));
}

function section(title: string, body: string): string {
  return `<section><h2>${escape(title)}</h2>${body}</section>`;
}

function table(headers: readonly string[], rows: readonly string[]): string {
  return `<table><thead><tr>${headers.map((header) => `<th>${escape(header)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** A table row of cells that are already HTML (each value escaped by the caller). */
function row(cells: readonly string[]): string {
  return `<tr>${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`;
}

/** No Origin header (a browser sends one with every form POST it makes), or this host's own. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

export function escape(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** One cookie's value from a Cookie header (RFC 6265 pairs separated by "; "). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at === -1 || pair.slice(0, at).trim() !== name) continue;
    const value = pair.slice(at + 1).trim();
    try {
      return value === '' ? undefined : decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1.2em; background: #22313f; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
main { padding: 1em 1.2em; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 4px; padding: .4em 1em 1em; margin-bottom: 1em; }
h2 { font-size: 1.05em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eceff2; vertical-align: top; }
th { font-weight: 600; color: #4a5560; }
.bad { color: #b3261e; font-weight: 600; }
.warn { color: #8a5a00; }
.muted, .hint { color: #5f6b76; }
.error { color: #b3261e; }
form.inline { display: inline; }
`;

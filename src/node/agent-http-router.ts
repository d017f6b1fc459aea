import type { IncomingMessage, ServerResponse } from 'node:http';

export interface AgentRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly raw: IncomingMessage;
}

/** A JSON answer, or `stream` to write the response itself (gear snapshots, later). */
export type AgentResponse = { readonly status: number; readonly json?: unknown } | { readonly stream: (response: ServerResponse) => Promise<void> };

export type AgentRouteHandler = (request: AgentRequest) => Promise<AgentResponse> | AgentResponse;

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly handler: AgentRouteHandler;
}

/**
 * The node agent's own HTTP API, kept small on purpose: `/health` now, gear snapshot transfer
 * for moves later. Patterns are literal segments and `:name` parameters. Errors become the
 * broker's error shape (`{error:{code,message}}`) here, in one place.
 */
export class AgentHttpRouter {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: AgentRouteHandler): this {
    this.routes.push({ method: method.toUpperCase(), segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  readonly handle = (request: IncomingMessage, response: ServerResponse): void => {
    void this.dispatch(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: { code: 'internal', message: (error as Error).message } });
      else response.destroy();
    });
  };

  private async dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://agent');
    const segments = url.pathname.split('/').filter(Boolean);
    let pathMatched = false;
    for (const route of this.routes) {
      const params = match(route.segments, segments);
      if (!params) continue;
      pathMatched = true;
      if (route.method !== request.method && !(route.method === 'GET' && request.method === 'HEAD')) continue;
      const answer = await route.handler({ method: request.method, path: url.pathname, params, query: url.searchParams, raw: request });
      if ('stream' in answer) return answer.stream(response);
      return sendJson(response, answer.status, answer.json);
    }
    if (pathMatched) return sendJson(response, 405, { error: { code: 'method_not_allowed', message: `${request.method} is not allowed on ${url.pathname}` } });
    sendJson(response, 404, { error: { code: 'route_not_found', message: `${request.method} ${url.pathname} not found` } });
  }
}

function match(pattern: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of pattern.entries()) {
    const segment = segments[index]!;
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(segment);
    else if (part !== segment) return undefined;
  }
  return params;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

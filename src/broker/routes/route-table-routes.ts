import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { ErrorBody, Items } from '../api-schemas.ts';
import { iso } from '../api-views.ts';
import type { BrokerContext } from '../broker-context.ts';
import { requireAdmin, requireRouterOrAdmin } from '../request-auth.ts';
import { buildRouteTable } from '../route-table.ts';
import { watch, WatchQuery } from './watch-request.ts';

const RouteView = Type.Object({
  host: Type.String({ description: '<app>-<domain>.<CLOUD_DOMAIN>' }),
  app: Type.String(),
  domain: Type.String(),
  desiredState: Type.String(),
  endpoints: Type.Array(Type.String({ description: 'host:port of a gear observed started' })),
});

const RouterView = Type.Object({
  name: Type.String({ description: 'as the router names itself: host:port/pid' }),
  lastSeenAt: Type.String({ description: 'its last request for the route table' }),
  lastServedAt: Type.String({ description: 'when it last had the table current (a 304 says so too)' }),
  countedByMoves: Type.Boolean({ description: 'seen recently enough that a gear move waits for it to have the new table' }),
});

/** How far back the routers view looks. */
const ROUTERS_SHOWN_MS = 60 * 60 * 1000;

/** The route table routers follow: every app, with the endpoints of its started gears. */
export function registerRouteTableRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/routes',
    {
      schema: {
        tags: ['routes'],
        summary: 'The route table (router token, or admin). Long-poll: with since=<version>, waits up to wait seconds for a change, else 304',
        querystring: WatchQuery,
        response: { 200: Type.Object({ version: Type.String(), items: Type.Array(RouteView) }), 304: Type.Null(), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      requireRouterOrAdmin(request.principal);
      const result = await watch(request, context, async () =>
        buildRouteTable(await context.store.listRouteEntries(), await context.store.listGearMoves(), context.config.cloudDomain),
      );
      // Remember which routers have the current table: a move drops its source only once every
      // live router does (a 304 also means the router's table is the current one).
      const name = request.headers['x-geartide-router'];
      if (typeof name === 'string' && /^[\w.:\/-]{1,128}$/.test(name)) await context.store.recordRouterPoll({ name, served: true, now: context.clock() });
      if (!result) return reply.status(304).send(null);
      return { version: result.version, items: result.view };
    },
  );

  app.get(
    '/routers',
    {
      schema: {
        tags: ['routes'],
        summary: 'Routers that followed the route table in the last hour (admin); a gear move waits for those countedByMoves',
        response: { 200: Items(RouterView), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const now = context.clock();
      const liveSince = now - context.moves.settings.routerLiveMs;
      const routers = await context.store.listRouters(now - ROUTERS_SHOWN_MS);
      return {
        items: routers.map((router) => ({ name: router.name, lastSeenAt: iso(router.lastSeenAt), lastServedAt: iso(router.lastServedAt), countedByMoves: router.lastSeenAt >= liveSince })),
      };
    },
  );
}

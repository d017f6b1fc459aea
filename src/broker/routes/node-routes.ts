import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { AuthError, ForbiddenError, NotFoundError } from '../../core/errors.ts';
import { ErrorBody, HeartbeatBody, HostName, Id, Items, NodeView, RegisterNodeBody, ReportGearBody } from '../api-schemas.ts';
import { NameResolver, nodeView } from '../api-views.ts';
import type { BrokerContext } from '../broker-context.ts';
import { requireAdmin, requireNodeOrAdmin } from '../request-auth.ts';
import { watch, WatchQuery } from './watch-request.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const NodeParams = Type.Object({ name: HostName });

const DesiredGear = Type.Object({
  id: Type.String(),
  uid: Type.Integer(),
  app: Type.String(),
  appId: Type.String(),
  domain: Type.String(),
  cartridge: Type.String(),
  gearProfile: Type.String(),
  desiredState: Type.String(),
  restartGeneration: Type.Integer(),
  /** The app's source version to run; null: none uploaded, the cartridge's built-in app. */
  sourceVersion: Type.Union([Type.Integer(), Type.Null()]),
  /** Present while the gear is being moved to or from this node (docs/moves.md). */
  move: Type.Optional(
    Type.Object({
      id: Type.String(),
      role: Type.Union([Type.Literal('source'), Type.Literal('target')]),
      phase: Type.String(),
      /** The source agent's URL (target only). */
      source: Type.Optional(Type.String()),
      /** The move token to present to the source agent (target only). */
      token: Type.Optional(Type.String()),
    }),
  ),
});

export function registerNodeRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = context;

  async function findNode(name: string) {
    const node = await store.getNodeByName(name);
    if (!node) throw new NotFoundError('node', name, 'name');
    return node;
  }

  async function render(name: string) {
    return nodeView(await findNode(name), new NameResolver(store));
  }

  app.post('/nodes/register', { schema: { tags: ['nodes'], summary: 'Register a node agent with the bootstrap token; returns its own credential once', body: RegisterNodeBody, response: { 201: Type.Object({ node: NodeView, credential: Type.String(), heartbeatIntervalSeconds: Type.Integer() }), ...errors } } }, async (request, reply) => {
    if (request.principal.kind === 'anonymous') throw new AuthError('node registration needs the bootstrap token');
    if (request.principal.kind !== 'bootstrap') {
      throw new ForbiddenError(context.config.nodeBootstrapToken === undefined ? 'node registration is disabled: NODE_BOOTSTRAP_TOKEN is not set' : 'node registration needs the bootstrap token');
    }
    const { node, credential } = await context.nodes.register(request.body);
    return reply.status(201).send({ node: await render(node.name), credential, heartbeatIntervalSeconds: context.config.nodeHeartbeatIntervalSeconds });
  });

  app.post('/nodes/:name/heartbeat', { schema: { tags: ['nodes'], summary: "A node agent reports its facts (node's own credential)", params: NodeParams, body: HeartbeatBody, response: { 200: NodeView, ...errors } } }, async (request) => {
    requireNodeOrAdmin(request.principal, request.params.name, false);
    if (request.principal.kind !== 'node') throw new ForbiddenError('only the node itself heartbeats');
    await context.nodes.heartbeat(request.principal.node, request.body);
    return render(request.params.name);
  });

  app.get(
    '/nodes/:name/gears',
    {
      schema: {
        tags: ['nodes'],
        summary: 'Gears the node should run (its own credential, or admin). Long-poll: with since=<version>, waits up to wait seconds for a change, else 304',
        params: NodeParams,
        querystring: WatchQuery,
        response: { 200: Type.Object({ version: Type.String(), items: Type.Array(DesiredGear) }), 304: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      requireNodeOrAdmin(request.principal, request.params.name, true);
      const node = await findNode(request.params.name);
      const result = await watch(request, context, async () => {
        const moves = new Map((await store.listGearMoves({ nodeId: node.id })).map((move) => [move.gearId, move]));
        const sources = new Map<string, string | null>();
        for (const move of moves.values()) {
          if (move.targetNodeId === node.id && !sources.has(move.sourceNodeId)) sources.set(move.sourceNodeId, (await store.getNode(move.sourceNodeId))?.endpoint ?? null);
        }
        return (await store.listNodeAssignments(node.id)).map((gear) => {
          const move = moves.get(gear.gearId);
          const incoming = move !== undefined && move.targetNodeId === node.id;
          return {
          id: gear.gearId,
          uid: incoming ? move.targetUid : gear.uid,
          app: gear.appName,
          appId: gear.appId,
          domain: gear.domainName,
          cartridge: gear.cartridge,
          gearProfile: gear.gearProfile,
          desiredState: gear.desiredState,
          restartGeneration: gear.restartGeneration,
          sourceVersion: gear.sourceVersion,
          ...(move === undefined
            ? {}
            : {
                move: incoming
                  ? { id: move.operationId, role: 'target' as const, phase: move.phase, source: sources.get(move.sourceNodeId) ?? '', token: move.token }
                  : { id: move.operationId, role: 'source' as const, phase: move.phase },
              }),
          };
        });
      });
      if (!result) return reply.status(304).send(null);
      return { version: result.version, items: result.view };
    },
  );

  app.put('/nodes/:name/gears/:id', { schema: { tags: ['nodes'], summary: 'A node agent reports what it observes of one of its gears', params: Type.Object({ name: HostName, id: Id }), body: ReportGearBody, response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
    requireNodeOrAdmin(request.principal, request.params.name, false);
    if (request.principal.kind !== 'node') throw new ForbiddenError('only the node itself reports its gears');
    const ok = await store.reportGear({ gearId: request.params.id, nodeId: request.principal.node.id, observedState: request.body.observedState, endpoint: request.body.endpoint, now: context.clock() });
    if (!ok) throw new NotFoundError('gear', request.params.id, 'id');
    // What a gear reports changes the route table.
    context.changes.notify();
    return reply.status(204).send(null);
  });

  app.get(
    '/nodes/:name/gears/:id/source',
    {
      schema: {
        tags: ['nodes'],
        summary: "The source archive (application/gzip) of one of the node's gears' app (the node's own credential)",
        params: Type.Object({ name: HostName, id: Id }),
        // fastify sends a Buffer as it is; the schema only documents it.
        response: { 200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'the tar.gz as uploaded' }), ...errors },
      },
    },
    async (request, reply) => {
      // Archives are users' code: only the node that runs the gear gets it, not even an admin token.
      requireNodeOrAdmin(request.principal, request.params.name, false);
      if (request.principal.kind !== 'node') throw new ForbiddenError('only the node running the gear fetches its source');
      const gear = await store.getGear(request.params.id);
      if (!gear || gear.nodeId !== request.principal.node.id) throw new NotFoundError('gear', request.params.id, 'id');
      const owner = await store.getAppById(gear.appId);
      const source = owner?.sourceId ? await store.getSource(owner.sourceId) : undefined;
      if (!owner || !source) throw new NotFoundError('source', `of gear ${gear.id}`, 'id');
      return reply
        .status(200)
        .type('application/gzip')
        .header('etag', `"${source.sha256}"`)
        // What the agent is about to install: a deploy may have happened since its last watch.
        .header('x-geartide-source-version', String(owner.sourceVersion))
        .send(source.archive);
    },
  );

  app.get('/nodes', { schema: { tags: ['nodes'], summary: 'List node hosts with their facts (admin)', response: { 200: Items(NodeView), ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    const nodes = await store.listNodes();
    const names = new NameResolver(store);
    return { items: await Promise.all(nodes.map((node) => nodeView(node, names))) };
  });

  app.get('/nodes/:name', { schema: { tags: ['nodes'], summary: 'Show a node host (admin)', params: NodeParams, response: { 200: NodeView, ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    return render(request.params.name);
  });

  for (const action of ['deactivate', 'activate'] as const) {
    app.post(`/nodes/:name/${action}`, { schema: { tags: ['nodes'], summary: `${action === 'activate' ? 'Activate' : 'Deactivate'} a node (admin)`, params: NodeParams, response: { 200: NodeView, ...errors } } }, async (request) => {
      const admin = requireAdmin(request.principal);
      const node = await findNode(request.params.name);
      if (action === 'activate') await context.nodes.activate(node, `by ${admin.login}`);
      else await context.nodes.deactivate(node, `by ${admin.login}`);
      return render(node.name);
    });
  }
}

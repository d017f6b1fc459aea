import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { ConflictError, ForbiddenError, GeartideError, NotFoundError } from '../../core/errors.ts';
import type { Operation } from '../../core/model.ts';
import { TARGET_VISIBLE_PHASES, type MovePhase } from '../../core/move-phases.ts';
import { ErrorBody, HostName, Id, Items } from '../api-schemas.ts';
import type { BrokerContext } from '../broker-context.ts';
import { sameSecret } from '../credentials.ts';
import type { DrainData } from '../drain-executor.ts';
import { moveView, type MoveData } from '../move-executor.ts';
import { requireAdmin, requireNodeOrAdmin } from '../request-auth.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const NodeParams = Type.Object({ name: HostName });

const MoveView = Type.Object({
  id: Type.String(),
  gear: Type.String(),
  app: Type.String(),
  domain: Type.String(),
  from: Type.String(),
  to: Type.String(),
  phase: Type.String(),
  status: Type.String(),
  pauseMs: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.String(),
  updatedAt: Type.String(),
});

const DrainView = Type.Object({
  id: Type.String(),
  node: Type.String(),
  status: Type.String(),
  phase: Type.String(),
  parallel: Type.Integer(),
  deadline: Type.String(),
  total: Type.Integer(),
  moved: Type.Integer(),
  failed: Type.Integer(),
  inFlight: Type.Integer(),
  longestPauseMs: Type.Integer(),
  plan: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  moves: Type.Array(MoveView),
  startedAt: Type.String(),
  updatedAt: Type.String(),
});

/** Gear moves and node drains (docs/moves.md): the operator's endpoints and the agents'. */
export function registerMoveRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = context;

  async function renderMove(operation: Operation) {
    const data = operation.data as unknown as MoveData;
    const owner = await store.getAppById(data.appId);
    const domain = owner ? (await store.listDomains()).find((each) => each.id === owner.domainId) : undefined;
    return moveView(operation, await store.getGearMove(data.gearId), { app: owner?.name ?? data.appId, domain: domain?.name ?? '' });
  }

  async function renderDrain(operation: Operation) {
    const data = operation.data as unknown as DrainData;
    const moves = (await Promise.all(data.moveIds.map((id) => store.getOperation(id)))).filter((each): each is Operation => each !== undefined);
    const views = await Promise.all(moves.map(renderMove));
    return {
      id: operation.id,
      node: data.nodeName,
      status: operation.phase === 'cancelled' ? 'cancelled' : operation.status,
      phase: operation.phase,
      parallel: data.parallel,
      deadline: new Date(data.deadlineAt).toISOString(),
      total: data.total,
      moved: views.filter((move) => move.status === 'succeeded').length,
      failed: views.filter((move) => move.status === 'rolled-back' || move.status === 'failed').length,
      inFlight: views.filter((move) => move.status === 'running').length,
      longestPauseMs: Math.max(0, ...views.map((move) => move.pauseMs ?? 0)),
      plan: data.plan,
      reason: operation.error,
      moves: views,
      startedAt: new Date(operation.createdAt).toISOString(),
      updatedAt: new Date(operation.updatedAt).toISOString(),
    };
  }

  async function findMove(id: string): Promise<Operation> {
    const operation = await store.getOperation(id);
    if (!operation || operation.kind !== 'move') throw new NotFoundError('move', id, 'id');
    return operation;
  }

  app.post(
    '/moves',
    {
      schema: {
        tags: ['moves'],
        summary: 'Move gears to other nodes (admin): one move each, in parallel; the target is placement\'s choice or --to',
        body: Type.Object(
          {
            gears: Type.Array(Id, { minItems: 1, maxItems: 100, uniqueItems: true }),
            to: Type.Optional(HostName),
            changeDistrict: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 202: Type.Object({ items: Type.Array(MoveView), refused: Type.Array(Type.Object({ gear: Type.String(), code: Type.String(), message: Type.String() })) }), ...errors },
      },
    },
    async (request, reply) => {
      const admin = requireAdmin(request.principal);
      const started: Operation[] = [];
      const refused: { gear: string; code: string; message: string }[] = [];
      for (const gearId of request.body.gears) {
        try {
          started.push(await context.moves.startMove({ gearId, ...(request.body.to ? { toNodeName: request.body.to } : {}), changeDistrict: request.body.changeDistrict === true, actor: admin.login }));
        } catch (error) {
          // One refused gear must not stop the others; with a single gear, its error is the answer.
          if (!(error instanceof GeartideError) || request.body.gears.length === 1) throw error;
          refused.push({ gear: gearId, code: error.code, message: error.message });
        }
      }
      if (started.length === 0) throw new ConflictError('no_move_started', `no gear could be moved: ${refused.map((each) => `${each.gear}: ${each.message}`).join('; ')}`, { field: 'gears' });
      context.changes.notify();
      return reply.status(202).send({ items: await Promise.all(started.map(async (operation) => renderMove((await store.getOperation(operation.id))!))), refused });
    },
  );

  app.get(
    '/moves',
    {
      schema: {
        tags: ['moves'],
        summary: 'Moves, newest first (admin)',
        querystring: Type.Object({ status: Type.Optional(Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('rolled-back'), Type.Literal('failed')])) }, { additionalProperties: false }),
        response: { 200: Items(MoveView), ...errors },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const operations = await store.listOperations({ kind: 'move', ...(request.query.status ? { status: [request.query.status] } : {}) });
      return { items: await Promise.all(operations.sort((a, b) => b.createdAt - a.createdAt).slice(0, 500).map(renderMove)) };
    },
  );

  app.get('/moves/:id', { schema: { tags: ['moves'], summary: 'One move (admin)', params: Type.Object({ id: Id }), response: { 200: MoveView, ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    return renderMove(await findMove(request.params.id));
  });

  app.post(
    '/nodes/:name/drain',
    {
      schema: {
        tags: ['moves'],
        summary: 'Drain a node (admin): deactivate it and move all its gears, in parallel, under a deadline',
        params: NodeParams,
        body: Type.Object(
          {
            parallel: Type.Optional(Type.Integer({ minimum: 1, maximum: 32 })),
            deadlineSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400 })),
          },
          { additionalProperties: false },
        ),
        response: { 202: DrainView, ...errors },
      },
    },
    async (request, reply) => {
      const admin = requireAdmin(request.principal);
      const body = request.body ?? {};
      const operation = await context.drains.startDrain({ nodeName: request.params.name, parallel: body.parallel ?? context.config.drainParallel, deadlineSeconds: body.deadlineSeconds ?? context.config.drainDeadlineSeconds, actor: admin.login });
      context.changes.notify();
      return reply.status(202).send(await renderDrain(operation));
    },
  );

  app.get('/nodes/:name/drain', { schema: { tags: ['moves'], summary: "The node's newest drain (admin)", params: NodeParams, response: { 200: DrainView, ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    const node = await store.getNodeByName(request.params.name);
    if (!node) throw new NotFoundError('node', request.params.name, 'name');
    const drains = (await store.listOperations({ kind: 'drain' })).filter((operation) => (operation.data as { nodeId?: string }).nodeId === node.id);
    const newest = drains.sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!newest) throw new NotFoundError('drain', request.params.name, 'name');
    return renderDrain(newest);
  });

  app.post('/nodes/:name/cancel-drain', { schema: { tags: ['moves'], summary: 'Cancel a drain (admin): the node is re-activated; moves in flight finish or roll back', params: NodeParams, response: { 200: DrainView, ...errors } } }, async (request) => {
    const admin = requireAdmin(request.principal);
    const operation = await context.drains.cancelDrain(request.params.name, admin.login);
    context.changes.notify();
    return renderDrain(operation);
  });

  // --- node agents ---------------------------------------------------------------------------

  app.put(
    '/nodes/:name/moves/:moveId',
    {
      schema: {
        tags: ['nodes'],
        summary: "The target agent reports its copy started (health check passed) or failed (the target node's own credential)",
        params: Type.Object({ name: HostName, moveId: Id }),
        body: Type.Object(
          {
            state: Type.Union([Type.Literal('started'), Type.Literal('failed')]),
            endpoint: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]{1,255}:[0-9]{1,5}$' })),
            pauseMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
            error: Type.Optional(Type.String({ maxLength: 2000 })),
          },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      requireNodeOrAdmin(request.principal, request.params.name, false);
      if (request.principal.kind !== 'node') throw new ForbiddenError('only the target node reports its copy');
      const operation = await findMove(request.params.moveId);
      const move = await store.getGearMove((operation.data as unknown as MoveData).gearId);
      if (!move || move.operationId !== operation.id || move.targetNodeId !== request.principal.node.id) throw new NotFoundError('move', request.params.moveId, 'moveId');
      if (request.body.state === 'started' && request.body.endpoint === undefined) throw new ConflictError('missing_endpoint', 'a started copy must say where it answers', { field: 'endpoint' });
      await store.updateGearMove(move.gearId, {
        targetState: request.body.state,
        ...(request.body.endpoint === undefined ? {} : { targetEndpoint: request.body.endpoint }),
        ...(request.body.pauseMs === undefined ? {} : { pauseMs: request.body.pauseMs }),
        ...(request.body.error === undefined ? {} : { error: request.body.error }),
        now: context.clock(),
      });
      context.changes.notify();
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/nodes/:name/moves/verify',
    {
      schema: {
        tags: ['nodes'],
        summary: "The source agent checks a move token presented to it (the source node's own credential)",
        params: NodeParams,
        body: Type.Object({ moveId: Id, token: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ gearId: Type.String() }), ...errors },
      },
    },
    async (request) => {
      requireNodeOrAdmin(request.principal, request.params.name, false);
      if (request.principal.kind !== 'node') throw new ForbiddenError('only the source node verifies move tokens');
      const operation = await store.getOperation(request.body.moveId);
      const move = operation?.kind === 'move' ? await store.getGearMove((operation.data as unknown as MoveData).gearId) : undefined;
      // One answer for every kind of mismatch, so the endpoint tells a prober nothing.
      const valid =
        move !== undefined &&
        move.operationId === request.body.moveId &&
        move.sourceNodeId === request.principal.node.id &&
        TARGET_VISIBLE_PHASES.includes(move.phase as MovePhase) &&
        sameSecret(request.body.token, move.token);
      if (!valid) throw new ForbiddenError('this move token is not valid for a gear moving from this node');
      return { gearId: move.gearId };
    },
  );
}

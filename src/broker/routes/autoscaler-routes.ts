import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { ConflictError, NotFoundError } from '../../core/errors.ts';
import type { Operation } from '../../core/model.ts';
import type { PoolMemory, ScalePlan } from '../../core/scale-plan.ts';
import { ErrorBody } from '../api-schemas.ts';
import { iso } from '../api-views.ts';
import type { PoolPass } from '../autoscaler-controller.ts';
import type { BrokerContext } from '../broker-context.ts';
import { requireAdmin } from '../request-auth.ts';
import { SCALE_DOWN, SCALE_UP } from '../scale-snapshot.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
// The views below are plain JSON built here; documented by example in docs/autoscaler.md.
const ok = { 200: Type.Unknown({ description: 'See docs/autoscaler.md' }), ...errors };
const PauseBody = Type.Object({ pool: Type.Optional(Type.String({ minLength: 1, maxLength: 80, description: 'One pool; all pools when absent.' })) }, { additionalProperties: false });

/**
 * `geartide admin autoscaler status|plan|pause|resume` over REST (admin only). `plan` is a dry
 * run: what each pool would do now, and why, changing nothing.
 */
export function registerAutoscalerRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { store, config } = context;

  function enabled() {
    const autoscaler = context.autoscaler();
    if (autoscaler === undefined) {
      throw new ConflictError('autoscaler_off', 'the autoscaler is off on this broker (AUTOSCALE_PROVIDER=none in broker.conf)', { field: 'AUTOSCALE_PROVIDER' });
    }
    return autoscaler;
  }

  function poolsNamed(name: string | undefined) {
    const pools = enabled().pools;
    if (name === undefined) return pools;
    const pool = pools.find((each) => each.name === name);
    if (!pool) throw new NotFoundError('pool', name, 'pool');
    return [pool];
  }

  async function status() {
    const autoscaler = enabled();
    const passes = new Map((await autoscaler.dryRun()).map((pass) => [pass.pool, pass]));
    const last = new Map(autoscaler.lastPasses().map((pass) => [pass.pool, pass]));
    const running = (await store.listOperations({ status: ['running'] })).filter((operation) => operation.kind === SCALE_UP || operation.kind === SCALE_DOWN);
    const pools = [];
    for (const pool of autoscaler.pools) {
      const now = passes.get(pool.name)!;
      const nodes = (await store.listNodes({ gearProfile: pool.gearProfile })).filter((node) => node.state !== 'gone');
      const byState: Record<string, number> = {};
      for (const node of nodes) byState[node.state] = (byState[node.state] ?? 0) + 1;
      pools.push({
        name: pool.name,
        profile: pool.gearProfile,
        district: pool.district,
        min: pool.minNodes,
        max: pool.maxNodes,
        maxActiveGearsPerNode: pool.maxActiveGears,
        usage: now.plan.usage,
        nodes: byState,
        ...memoryView(now.memoryBefore),
        plan: planView(now),
        lastPass: last.has(pool.name) ? planView(last.get(pool.name)!) : null,
        operations: running.filter((operation) => (operation.data as { pool?: string }).pool === pool.name).map(operationView),
      });
    }
    return {
      provider: config.autoscale.provider,
      intervalSeconds: config.autoscale.intervalSeconds,
      upThresholdPct: config.autoscale.upThresholdPct,
      downMarginPct: config.autoscale.downMarginPct,
      leader: autoscaler.isLeader,
      pools,
    };
  }

  app.get('/autoscaler', { schema: { tags: ['autoscaler'], summary: 'Pools, usage, exhaustion, running scale operations (admin)', response: ok } }, async (request) => {
    requireAdmin(request.principal);
    return status();
  });

  app.get('/autoscaler/plan', { schema: { tags: ['autoscaler'], summary: 'Dry run: what each pool would do now, and why (admin)', response: ok } }, async (request) => {
    requireAdmin(request.principal);
    return { items: (await enabled().dryRun()).map(planView) };
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post(`/autoscaler/${action}`, { schema: { tags: ['autoscaler'], summary: `${action === 'pause' ? 'Pause' : 'Resume'} autoscaling of a pool, or of all (admin)`, body: PauseBody, response: ok } }, async (request) => {
      const admin = requireAdmin(request.principal);
      const now = context.clock();
      for (const pool of poolsNamed(request.body?.pool)) {
        await store.setPoolPaused(pool.name, action === 'pause' ? { by: admin.login, at: now } : null, now);
        await context.events.record({
          kind: action === 'pause' ? 'pool.paused' : 'pool.resumed',
          subject: `pool:${pool.name}`,
          message: action === 'pause' ? `autoscaling of pool ${pool.name} paused by ${admin.login}: operations in flight finish, no new ones start` : `autoscaling of pool ${pool.name} resumed by ${admin.login}`,
        });
      }
      enabled().wake();
      return status();
    });
  }
}

function memoryView(memory: PoolMemory) {
  return {
    paused: memory.paused ? { by: memory.paused.by, at: iso(memory.paused.at) } : null,
    exhausted: memory.exhausted ? { reason: memory.exhausted.reason, since: iso(memory.exhausted.since) } : null,
    underusedSince: memory.underusedSince === null ? null : iso(memory.underusedSince),
    lastScaleUpAt: memory.lastScaleUpAt === null ? null : iso(memory.lastScaleUpAt),
    lastScaleDownAt: memory.lastScaleDownAt === null ? null : iso(memory.lastScaleDownAt),
    failures: memory.failures,
    lastFailure: memory.lastFailure,
  };
}

function planView(pass: PoolPass) {
  const plan: ScalePlan = pass.plan;
  return {
    pool: pass.pool,
    at: iso(pass.at),
    kind: plan.kind,
    reason: plan.reason,
    ...(plan.kind === 'wait' || plan.kind === 'noop' ? { code: plan.code } : {}),
    ...(plan.kind === 'wait' ? { until: plan.until === null ? null : iso(plan.until), exhausted: plan.exhausted } : {}),
    ...(plan.kind === 'scale-up' ? { count: plan.count, district: plan.districtName } : {}),
    ...(plan.kind === 'scale-down' || plan.kind === 'cancel-drain' ? { node: plan.nodeName } : {}),
    usage: plan.usage,
    planMs: Math.round(pass.planMs * 1000) / 1000,
  };
}

function operationView(operation: Operation) {
  const data = operation.data as Record<string, unknown>;
  return {
    id: operation.id,
    kind: operation.kind,
    phase: operation.phase,
    ...(operation.kind === SCALE_UP ? { count: data.count, district: data.district, scaleEventId: data.scaleEventId, nodes: data.nodes } : { node: data.nodeName }),
    startedAt: iso(operation.createdAt),
  };
}

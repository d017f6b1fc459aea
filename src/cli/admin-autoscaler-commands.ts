import type { Command } from 'commander';

import { poolExhaustion, type ApiAutoscalerPool, type ApiAutoscalerStatus, type ApiScalePlan } from './api-types.ts';
import type { CliContext } from './cli-context.ts';
import { formatTable } from './table.ts';

/** `geartide admin autoscaler …`: what the autoscaler does and why; pause and resume it. */
export function registerAdminAutoscalerCommands(admin: Command, context: CliContext): void {
  const autoscaler = admin.command('autoscaler').description('the autoscaler: pools, usage, exhaustion, dry run, pause/resume');

  autoscaler
    .command('status')
    .description('each pool: nodes, usage, exhausted or paused, running scale operations, and what it would do now')
    .action(async (_options: unknown, command: Command) => {
      const status = await context.client().autoscalerStatus();
      if (context.wantsJson(command)) return context.printJson(status);
      context.print(renderStatus(status));
    });

  autoscaler
    .command('plan')
    .description('dry run: what each pool would do now, and why (changes nothing)')
    .action(async (_options: unknown, command: Command) => {
      const plans = await context.client().autoscalerPlan();
      if (context.wantsJson(command)) return context.printJson(plans);
      context.print(plans.items.map(renderPlan).join('\n'));
    });

  for (const action of ['pause', 'resume'] as const) {
    autoscaler
      .command(action)
      .description(action === 'pause' ? 'stop starting scale operations (those in flight finish)' : 'start scaling again')
      .option('--pool <name>', 'one pool (default: all)')
      .action(async (options: { pool?: string }, command: Command) => {
        const status = await context.client().pauseAutoscaler(action, options.pool);
        if (context.wantsJson(command)) return context.printJson(status);
        const pools = status.pools.filter((pool) => options.pool === undefined || pool.name === options.pool);
        context.print(pools.map((pool) => `pool ${pool.name}: ${pool.paused ? `paused by ${pool.paused.by}` : 'autoscaling'}`).join('\n'));
      });
  }
}

/** The human status: a table of pools, then each pool's situation and plan in sentences. */
export function renderStatus(status: ApiAutoscalerStatus): string {
  const table = formatTable<ApiAutoscalerPool>(
    [
      { header: 'pool', value: (pool) => pool.name },
      { header: 'nodes', value: (pool) => nodeCounts(pool.nodes), align: 'right' },
      { header: 'min–max', value: (pool) => `${pool.min}–${pool.max}`, align: 'right' },
      { header: 'active/capacity', value: (pool) => `${pool.usage.activeGears}/${pool.usage.capacity}`, align: 'right' },
      { header: 'usage', value: (pool) => `${pool.usage.pct}%`, align: 'right' },
      { header: 'state', value: (pool) => (poolExhaustion(pool) !== null ? 'EXHAUSTED' : pool.paused ? 'paused' : pool.operations.length > 0 ? pool.operations.map((op) => op.kind).join(', ') : 'ok') },
      { header: 'next', value: (pool) => pool.plan.kind },
    ],
    status.pools,
  );
  const lines = [`provider ${status.provider}, every ${status.intervalSeconds} s, up at ${status.upThresholdPct}%, down only if ≤ ${status.upThresholdPct - status.downMarginPct}% after${status.leader ? '' : ' (this broker is not the leader: another runs the passes, or none has run yet)'}`, '', table, ''];
  for (const pool of status.pools) {
    if (pool.exhausted) lines.push(`pool ${pool.name} is EXHAUSTED since ${pool.exhausted.since}: ${pool.exhausted.reason}`);
    else if (pool.plan.exhausted) lines.push(`pool ${pool.name} is EXHAUSTED: ${pool.plan.exhausted}`);
    if (pool.paused) lines.push(`pool ${pool.name} is paused by ${pool.paused.by} since ${pool.paused.at}`);
    if (pool.failures > 0) lines.push(`pool ${pool.name}: ${pool.failures} failure(s) in a row, last: ${pool.lastFailure}`);
    for (const operation of pool.operations) lines.push(`pool ${pool.name}: ${operation.kind} ${operation.node ?? `of ${operation.count} node(s)`} is ${operation.phase} (since ${operation.startedAt})`);
    lines.push(renderPlan(pool.plan));
  }
  return lines.join('\n');
}

export function renderPlan(plan: ApiScalePlan): string {
  const what = plan.kind === 'scale-up' ? `scale-up by ${plan.count} into ${plan.district}` : plan.kind === 'scale-down' || plan.kind === 'cancel-drain' ? `${plan.kind} ${plan.node}` : plan.kind;
  return `pool ${plan.pool}: ${what}: ${plan.reason}`;
}

function nodeCounts(nodes: Readonly<Record<string, number>>): string {
  const total = Object.values(nodes).reduce((sum, count) => sum + count, 0);
  const others = Object.entries(nodes).filter(([state]) => state !== 'active');
  return others.length === 0 ? String(total) : `${total} (${others.map(([state, count]) => `${count} ${state}`).join(', ')})`;
}

import type { Command } from 'commander';
import type { ApiNode } from './api-types.ts';
import type { CliContext } from './cli-context.ts';
import { formatAge } from './age-format.ts';
import { integerOption } from './integer-option.ts';
import { followDrain } from './move-commands.ts';
import { drainSummary, movesTable } from './move-progress.ts';
import { formatFields, formatTable } from './table.ts';

/** `geartide admin node …`: node hosts, their facts and health. */
export function registerAdminNodeCommands(admin: Command, context: CliContext): void {
  const node = admin.command('node').description('inspect, deactivate and drain node hosts');

  node
    .command('list')
    .description('list node hosts: state, district, active gears, usage, last heartbeat')
    .action(async (_options: unknown, command: Command) => {
      const list = await context.client().listNodes();
      if (context.wantsJson(command)) return context.printJson(list);
      if (list.items.length === 0) return context.print('no node hosts have registered yet');
      const now = context.now();
      context.print(
        formatTable<ApiNode>(
          [
            { header: 'name', value: (row) => row.name },
            { header: 'state', value: (row) => row.state },
            { header: 'profile', value: (row) => row.gearProfile },
            { header: 'district', value: (row) => row.district },
            { header: 'active/max', value: (row) => `${row.placedActiveGears}/${row.maxActiveGears}`, align: 'right' },
            { header: 'usage', value: (row) => formatPercent(row.activeUsagePct), align: 'right' },
            { header: 'heartbeat', value: (row) => formatAge(row.lastHeartbeatAt, now) },
          ],
          list.items,
        ),
      );
    });

  node
    .command('show')
    .description('show one node host')
    .argument('<name>', 'node host name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const shown = await context.client().getNode(name);
      if (context.wantsJson(command)) return context.printJson(shown);
      const now = context.now();
      const { started, idle, stopped, unknown } = shown.gears;
      context.print(
        formatFields([
          ['node', shown.name],
          ['state', shown.state],
          ['gear profile', shown.gearProfile],
          ['district', shown.district],
          // Placed is what the broker assigned; reported is what the agent last said it runs.
          ['active gears', `${shown.placedActiveGears} placed of ${shown.maxActiveGears} max`],
          ['reported gears', `${started} started, ${idle} idle, ${stopped} stopped, ${unknown} unknown`],
          ['usage', formatPercent(shown.activeUsagePct)],
          ['endpoint', shown.endpoint],
          ['scale event', shown.scaleEventId],
          ['last heartbeat', shown.lastHeartbeatAt === null ? 'never' : `${formatAge(shown.lastHeartbeatAt, now)} (${shown.lastHeartbeatAt})`],
          ['created', shown.createdAt],
        ]),
      );
    });

  for (const [action, active, description] of [
    ['deactivate', false, 'stop placing new gears on a node host (its gears keep running)'],
    ['activate', true, 'place new gears on a node host again'],
  ] as const) {
    node
      .command(action)
      .description(description)
      .argument('<name>', 'node host name')
      .action(async (name: string, _options: unknown, command: Command) => {
        const result = await context.client().setNodeActive(name, active);
        if (context.wantsJson(command)) return context.printJson(result);
        context.print(`node ${result.name}: ${result.state}`);
      });
  }

  node
    .command('drain')
    .description('deactivate a node host and move all its gears to other nodes of its district (follows until done; Ctrl-C stops following, not the drain)')
    .argument('<name>', 'node host name')
    .option('--parallel <n>', 'moves at a time, 1..32 (broker default 4)', integerOption(1, 32))
    .option('--deadline <seconds>', 'give up on moves not done after this long, 10..86400 (broker default 600)', integerOption(10, 86_400))
    .action(async (name: string, options: { parallel?: number; deadline?: number }, command: Command) => {
      // A refusal (409 drain_refused) carries the planner's reason; main() prints it and exits 1.
      const drain = await context.client().drainNode(name, {
        ...(options.parallel === undefined ? {} : { parallel: options.parallel }),
        ...(options.deadline === undefined ? {} : { deadlineSeconds: options.deadline }),
      });
      await followDrain(context, drain, context.wantsJson(command));
    });

  node
    .command('drain-status')
    .description("show a node host's newest drain, or follow it with --follow")
    .argument('<name>', 'node host name')
    .option('-f, --follow', 'follow it until it ends, as `drain` does')
    .action(async (name: string, options: { follow?: boolean }, command: Command) => {
      const drain = await context.client().getDrain(name);
      const json = context.wantsJson(command);
      if (options.follow === true) return followDrain(context, drain, json);
      if (json) return context.printJson(drain);
      if (drain.moves.length > 0) context.print(movesTable(drain.moves));
      context.print(drainSummary(drain));
    });

  node
    .command('cancel-drain')
    .description('stop a drain and activate the node host again (moves in flight finish or roll back)')
    .argument('<name>', 'node host name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const drain = await context.client().cancelDrain(name);
      if (context.wantsJson(command)) return context.printJson(drain);
      context.print(drainSummary(drain));
      if (drain.inFlight > 0) context.print(`${drain.inFlight} move(s) in flight finish or roll back by themselves; \`geartide admin node drain-status ${drain.node} --follow\` follows them`);
    });
}

function formatPercent(value: number): string {
  return `${Number.isInteger(value) ? value : value.toFixed(1)}%`;
}

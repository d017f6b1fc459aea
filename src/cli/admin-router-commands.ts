import type { Command } from 'commander';
import type { ApiRouter } from './api-types.ts';
import type { CliContext } from './cli-context.ts';
import { formatAge } from './age-format.ts';
import { formatTable } from './table.ts';

/**
 * `geartide admin routers`: the routers that follow the broker's route table (each worker of a
 * `geartide router --workers N` is one). A gear move waits for every router counted by moves to
 * have the table without the gear's old endpoint, so a router that stopped answering shows here.
 */
export function registerAdminRouterCommand(admin: Command, context: CliContext): void {
  admin
    .command('routers')
    .description('list the routers following the route table in the last hour; gear moves wait for those seen in the last 90 s')
    .action(async (_options: unknown, command: Command) => {
      const list = await context.client().listRouters();
      if (context.wantsJson(command)) return context.printJson(list);
      if (list.items.length === 0) return context.print('no router has asked for the route table in the last hour');
      const now = context.now();
      context.print(
        formatTable<ApiRouter>(
          [
            { header: 'name', value: (row) => row.name },
            { header: 'last seen', value: (row) => formatAge(row.lastSeenAt, now) },
            { header: 'table current', value: (row) => formatAge(row.lastServedAt, now) },
            { header: 'moves wait for it', value: (row) => (row.countedByMoves ? 'yes' : 'no') },
          ],
          list.items,
        ),
      );
    });
}

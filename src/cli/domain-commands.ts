import type { Command } from 'commander';
import type { CliContext } from './cli-context.ts';
import { formatTable } from './table.ts';

/** `geartide domain create|list|delete`: a user's namespaces (OpenShift v2 domains). */
export function registerDomainCommands(program: Command, context: CliContext): void {
  const domain = program.command('domain').description('manage your domains (namespaces that hold apps)');

  domain
    .command('create')
    .description('create a domain')
    .argument('<name>', 'lower-case letters and digits, at most 32')
    .action(async (name: string, _options: unknown, command: Command) => {
      const created = await context.client().createDomain(name);
      if (context.wantsJson(command)) return context.printJson(created);
      context.print(`domain ${created.name} created`);
    });

  domain
    .command('list')
    .description('list your domains')
    .action(async (_options: unknown, command: Command) => {
      const list = await context.client().listDomains();
      if (context.wantsJson(command)) return context.printJson(list);
      if (list.items.length === 0) return context.print('no domains yet: create one with `geartide domain create NAME`');
      context.print(
        formatTable(
          [
            { header: 'name', value: (row) => row.name },
            { header: 'owner', value: (row) => row.owner },
            { header: 'created', value: (row) => row.createdAt },
          ],
          list.items,
        ),
      );
    });

  domain
    .command('delete')
    .description('delete a domain (it must hold no apps)')
    .argument('<name>', 'domain name')
    .action(async (name: string, _options: unknown, command: Command) => {
      await context.client().deleteDomain(name);
      // The API answers 204 with no body, so --json prints nothing: the exit code says it all.
      if (!context.wantsJson(command)) context.print(`domain ${name} deleted`);
    });
}

import type { Command } from 'commander';
import type { ApiTokenSummary } from './api-types.ts';
import { saveCliToken } from './cli-config.ts';
import type { CliContext } from './cli-context.ts';
import { integerOption } from './integer-option.ts';
import { formatTable } from './table.ts';

/** `geartide whoami` and `geartide token …`: the caller's own account and API tokens. */
export function registerUserCommands(program: Command, context: CliContext): void {
  program
    .command('whoami')
    .description('show who the configured token belongs to')
    .action(async (_options: unknown, command: Command) => {
      const client = context.client();
      const user = await client.currentUser();
      if (context.wantsJson(command)) return context.printJson(user);
      context.print(`${user.login} (${user.role}) at ${client.brokerUrl}: ${user.gearsUsed} of ${user.maxGears} gears used`);
    });

  const token = program.command('token').description('manage your API tokens');

  token
    .command('create')
    .description('create an API token (printed once), or store it in config.json with --save')
    .option('--name <name>', 'a label to recognise it by in `token list`')
    .option('--expires-in <seconds>', 'lifetime in seconds (default: never expires)', integerOption(1))
    .option('--save', 'store the new token in $GEARTIDE_HOME/config.json instead of printing it')
    .action(async (options: { name?: string; expiresIn?: number; save?: boolean }, command: Command) => {
      const body: { name?: string; expiresInSeconds?: number } = {};
      if (options.name !== undefined) body.name = options.name;
      if (options.expiresIn !== undefined) body.expiresInSeconds = options.expiresIn;
      const created = await context.client().createToken(body);
      const expiry = created.expiresAt === null ? 'never expires' : `expires ${created.expiresAt}`;
      if (options.save === true) {
        saveCliToken(context.config, created.token);
        if (context.wantsJson(command)) return context.printJson({ ...created, token: undefined });
        return context.print(`token ${created.id} (${created.name}, ${expiry}) saved to ${context.config.configFile}`);
      }
      if (context.wantsJson(command)) return context.printJson(created);
      // A token the user asked for is theirs to see once; the broker keeps only its hash.
      context.print(`token ${created.id} (${created.name}, ${expiry}) created`);
      context.print(`token: ${created.token}`);
      context.print('it is not shown again');
    });

  token
    .command('list')
    .description('list your API tokens (never their secrets)')
    .action(async (_options: unknown, command: Command) => {
      const list = await context.client().listTokens();
      if (context.wantsJson(command)) return context.printJson(list);
      context.print(
        formatTable<ApiTokenSummary>(
          [
            { header: 'id', value: (row) => row.id },
            { header: 'name', value: (row) => row.name },
            { header: 'created', value: (row) => row.createdAt },
            { header: 'expires', value: (row) => row.expiresAt ?? 'never' },
          ],
          list.items,
        ),
      );
    });

  token
    .command('delete')
    .description('revoke an API token')
    .argument('<id>', 'token id (see `geartide token list`)')
    .action(async (id: string, _options: unknown, command: Command) => {
      await context.client().deleteToken(id);
      if (!context.wantsJson(command)) context.print(`token ${id} deleted`);
    });
}

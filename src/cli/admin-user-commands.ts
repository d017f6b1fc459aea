import type { Command } from 'commander';
import type { ApiUser, CreateUserRequest } from './api-types.ts';
import type { CliContext } from './cli-context.ts';
import { integerOption } from './integer-option.ts';
import { formatTable } from './table.ts';

/** `geartide admin user …`: accounts and their gear limits. */
export function registerAdminUserCommands(admin: Command, context: CliContext): void {
  const user = admin.command('user').description('manage user accounts');

  user
    .command('create')
    .description('create a user and print their first token')
    .argument('<login>', 'login name')
    .option('--admin', 'give the user the admin role')
    .option('--max-gears <n>', 'most gears the user may own', integerOption(0))
    .action(async (login: string, options: { admin?: boolean; maxGears?: number }, command: Command) => {
      const body: CreateUserRequest = { login };
      if (options.admin === true) body.role = 'admin';
      if (options.maxGears !== undefined) body.maxGears = options.maxGears;
      const created = await context.client().createUser(body);
      if (context.wantsJson(command)) return context.printJson(created);
      // IMPORTANT: the one place the CLI prints a token, because the operator must hand it to the
      // new user and the broker keeps only its hash: it cannot be shown again.
      context.print(`user ${created.user.login} created (role ${created.user.role}, max ${created.user.maxGears} gears)`);
      context.print(`token: ${created.token}`);
      context.print('hand this token to the user (GEARTIDE_TOKEN); it is not shown again');
    });

  user
    .command('list')
    .description('list users')
    .action(async (_options: unknown, command: Command) => {
      const list = await context.client().listUsers();
      if (context.wantsJson(command)) return context.printJson(list);
      context.print(
        formatTable<ApiUser>(
          [
            { header: 'login', value: (row) => row.login },
            { header: 'role', value: (row) => row.role },
            { header: 'max gears', value: (row) => row.maxGears, align: 'right' },
            { header: 'created', value: (row) => row.createdAt },
          ],
          list.items,
        ),
      );
    });

  user
    .command('delete')
    .description('delete a user')
    .argument('<login>', 'login name')
    .action(async (login: string, _options: unknown, command: Command) => {
      await context.client().deleteUser(login);
      if (!context.wantsJson(command)) context.print(`user ${login} deleted`);
    });
}

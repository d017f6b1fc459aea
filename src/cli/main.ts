import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './admin-commands.ts';
import { registerAppCommands } from './app-commands.ts';
import { registerBrokerCommand } from './broker-command.ts';
import { CliContext } from './cli-context.ts';
import type { CliIo } from './cli-context.ts';
import { registerDomainCommands } from './domain-commands.ts';
import { registerEventCommands } from './event-commands.ts';
import { registerNodeCommand } from './node-command.ts';
import { exitCodeForError, renderError } from './render-error.ts';
import { registerRouterCommand } from './router-command.ts';
import { registerSimCommand } from './sim-command.ts';
import { registerUpCommand } from './up-command.ts';
import { registerUserCommands } from './user-commands.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The whole command tree, wired to `context`. Exported so tests can inspect it in-process. */
export function createProgram(context: CliContext): Command {
  const program = new Command('geartide');
  program
    .description('geartide: apps on a self-scaling PaaS (user commands), and the operator commands under `admin`')
    .version(version, '-V, --version')
    .option('--json', 'print the API JSON instead of tables (for scripts)')
    .configureHelp({ showGlobalOptions: true })
    // IMPORTANT: set before any .command(), because subcommands copy these settings when created:
    // errors must reach main() as exceptions so it prints one line and picks the exit code.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.io.stdout.write(text),
      writeErr: (text) => context.io.stderr.write(text),
      // main() prints the one error line itself.
      outputError: () => undefined,
    });

  registerUpCommand(program);
  registerBrokerCommand(program);
  registerNodeCommand(program);
  registerRouterCommand(program);
  registerSimCommand(program, context);
  registerDomainCommands(program, context);
  registerAppCommands(program, context);
  registerUserCommands(program, context);
  registerEventCommands(program, context);
  registerAdminCommands(program, context);
  return program;
}

/**
 * Run the CLI on `argv` (process.argv: node, script, args…). Never throws and never calls
 * process.exit: it sets process.exitCode, so long-running commands (`up`, `broker`) keep the
 * process alive on their own and short ones end as soon as their sockets close.
 */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const context = new CliContext(io);
  let exitCode = 0;
  try {
    await createProgram(context).parseAsync([...argv]);
  } catch (error) {
    exitCode = exitCodeForError(error);
    // Help and version requests travel as CommanderErrors too; they have printed already.
    const alreadyShown = error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help');
    if (!alreadyShown) io.stderr.write(`${renderError(error, context.secrets())}\n`);
  } finally {
    await context.close();
  }
  if (exitCode !== 0) process.exitCode = exitCode;
  return exitCode;
}

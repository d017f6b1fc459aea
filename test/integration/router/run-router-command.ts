// Test entry: `geartide router …` through registerRouterCommand alone (the router tests need no
// other command). Usage: node --import tsx run-router-command.ts router --broker … --port …
import { Command } from 'commander';

import { registerRouterCommand } from '../../../src/cli/router-command.ts';

const program = new Command('geartide').exitOverride();
registerRouterCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exitCode = 2;
}

// `geartide node` as its own process for the node suite, independent of whether src/cli/main.ts
// wires the command yet: node --import tsx run-node-agent.ts node --broker … (same flags).
import { Command } from 'commander';

import { registerNodeCommand } from '../../../src/cli/node-command.ts';

const program = new Command('geartide');
registerNodeCommand(program);
await program.parseAsync(process.argv);

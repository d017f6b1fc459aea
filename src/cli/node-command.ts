import type { Command } from 'commander';
import pino from 'pino';

import { integerOption } from './integer-option.ts';
import { waitForShutdownSignal } from './shutdown-signal.ts';
import { UsageError } from './usage-error.ts';

interface NodeCommandOptions {
  broker: string;
  bootstrapToken?: string;
  district?: string;
  profile: string;
  maxActiveGears: number;
  scaleEvent?: string;
  name?: string;
  stateDir?: string;
  listen: string;
  gearHost: string;
  keepGears?: boolean;
  logLevel: string;
}

/**
 * `geartide node`: a node agent, one per node host. It registers with the broker, heartbeats,
 * watches the gears placed on it and runs them as processes. Logs go to stderr as JSON lines;
 * stdout carries one line once it listens (`geartide node agent NAME listening on URL`), which
 * the local provider waits for.
 */
export function registerNodeCommand(program: Command): void {
  program
    .command('node')
    .description('run a node agent: register with the broker and run the gears it places here')
    .requiredOption('--broker <url>', 'the broker URL, e.g. http://127.0.0.1:7480')
    .option('--bootstrap-token <token>', 'the broker\'s NODE_BOOTSTRAP_TOKEN (prefer $GEARTIDE_BOOTSTRAP_TOKEN: a flag shows in ps)')
    .option('--district <name>', 'join this district at registration')
    .option('--profile <profile>', 'the gear profile (size) this node serves', 'small')
    .option('--max-active-gears <n>', 'most active gears this node takes', integerOption(1), 100)
    .option('--scale-event <id>', 'the scale-up request this node fulfils (set by providers)')
    .option('--name <name>', 'node host name (default: this host\'s name)')
    .option('--state-dir <dir>', 'where gears and the node credential live (default: $GEARTIDE_HOME/node-<name>)')
    .option('--listen <host:port>', 'the agent\'s own API', '127.0.0.1:0')
    .option('--gear-host <address>', 'the address gears listen on and are reached at', '127.0.0.1')
    .option('--keep-gears', 'on SIGTERM/SIGINT leave gear processes running (for an agent upgrade)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent', 'info')
    .action(async (options: NodeCommandOptions) => {
      const bootstrapToken = options.bootstrapToken ?? (process.env.GEARTIDE_BOOTSTRAP_TOKEN || undefined);
      if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(options.logLevel)) throw new UsageError(`--log-level: '${options.logLevel}' is not a level`);
      const log = pino({ level: options.logLevel, redact: { paths: ['*.credential', '*.bootstrapToken', '*.authorization'], censor: '[redacted]' } }, pino.destination(2));
      // Imported here, not at the top: every other command would pay for loading the agent.
      const { startNodeAgent } = await import('../node/node-agent.ts');
      const agent = await startNodeAgent({
        brokerUrl: options.broker,
        ...(bootstrapToken !== undefined ? { bootstrapToken } : {}),
        ...(options.district !== undefined ? { district: options.district } : {}),
        profile: options.profile,
        maxActiveGears: options.maxActiveGears,
        ...(options.scaleEvent !== undefined ? { scaleEventId: options.scaleEvent } : {}),
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...(options.stateDir !== undefined ? { stateDir: options.stateDir } : {}),
        listen: options.listen,
        gearHost: options.gearHost,
        log,
      });
      process.stdout.write(`geartide node agent ${agent.name} listening on ${agent.url}\n`);
      await waitForShutdownSignal();
      await agent.stop({ stopGears: !options.keepGears });
    });
}

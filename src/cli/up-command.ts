import type { Command } from 'commander';

/** `geartide up`: the whole platform on this machine. Written with the broker (src/broker). */
export function registerUpCommand(program: Command): void {
  program.command('up').description('run a whole platform on this machine (broker, router, local node agents)');
}

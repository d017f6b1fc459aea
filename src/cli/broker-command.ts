import type { Command } from 'commander';

/** `geartide broker`: the broker alone, as an operator deploys it. Written with the broker (src/broker). */
export function registerBrokerCommand(program: Command): void {
  program.command('broker').description('run the broker alone (REST API, store, controllers)');
}

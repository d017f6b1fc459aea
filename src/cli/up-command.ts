import type { Command } from 'commander';

import { waitForShutdownSignal } from './shutdown-signal.ts';

/**
 * `geartide up`: the whole platform on this machine (see up-platform.ts).
 */
export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('run a whole platform on this machine (broker, router, local node agents)')
    .action(async () => {
      // Imported here, not at the top: every other command would pay for loading the platform.
      const { startUp } = await import('./up-platform.ts');
      const platform = await startUp({ env: process.env });
      process.stdout.write(platform.banner);
      await waitForShutdownSignal();
      process.stdout.write('geartide: stopping…\n');
      await platform.close();
      process.stdout.write('geartide: stopped\n');
    });
}


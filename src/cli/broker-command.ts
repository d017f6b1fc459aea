import type { Command } from 'commander';

import { brokerConfReference, loadBrokerConfig, redactUrl } from '../broker/broker-config.ts';
import { waitForShutdownSignal } from './shutdown-signal.ts';

/**
 * `geartide broker`: the broker alone, as an operator deploys it (one or several per cloud, on
 * PostgreSQL). `geartide broker create-user` makes the first admin straight in the store, as
 * oo-admin-ctl-user does: there is no API user yet to ask.
 */
export function registerBrokerCommand(program: Command): void {
  const broker = program.command('broker').description('run the broker alone (REST API, store, controllers); see docs/broker-conf.md');

  broker
    .command('run', { isDefault: true })
    .description('run the broker (the default)')
    .option('--config <file>', 'broker.conf to read (default: $GEARTIDE_HOME/broker.conf)')
    .option('--print-config-reference', 'print the table of every broker.conf key with its default, and exit')
    .action(async (options: { config?: string; printConfigReference?: boolean }) => {
      if (options.printConfigReference) {
        process.stdout.write(`${brokerConfReference()}\n`);
        return;
      }
      const config = loadBrokerConfig({ configPath: options.config });
      // Imported here, not at the top: every other command would pay for loading the broker.
      const { startBroker } = await import('../broker/broker.ts');
      const running = await startBroker({ config });
      running.context.log.info({ url: running.url, store: redactUrl(config.datastoreUrl) }, 'broker listening');
      process.stdout.write(`geartide broker listening on ${running.url} (store: ${running.context.store.dialect})\n`);
      await waitForShutdownSignal();
      await running.close();
    });

  broker
    .command('create-user')
    .description('create a user directly in the store and print its first token (for the first admin)')
    .argument('<login>', 'the new user')
    .option('--admin', 'give the user the admin role')
    .option('--config <file>', 'broker.conf to read (default: $GEARTIDE_HOME/broker.conf)')
    .action(async (login: string, options: { admin?: boolean; config?: string }) => {
      const config = loadBrokerConfig({ configPath: options.config });
      const { openStore } = await import('../store/open-store.ts');
      const { createUserWithToken } = await import('../broker/bootstrap-admin.ts');
      const store = await openStore(config.datastoreUrl);
      try {
        const { token } = await createUserWithToken(store, { login, role: options.admin ? 'admin' : 'user', maxGears: config.defaultMaxGears, now: Date.now() });
        // The one place a token is printed: the operator has to hand it to its user.
        process.stdout.write(`${token}\n`);
      } finally {
        await store.close();
      }
    });
}

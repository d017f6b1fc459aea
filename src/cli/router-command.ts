import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { InvalidArgumentError, type Command } from 'commander';

import { integerOption } from './integer-option.ts';
import { waitForShutdownSignal } from './shutdown-signal.ts';
import { UsageError } from './usage-error.ts';

interface RouterCommandOptions {
  broker: string;
  port: number;
  host: string;
  cloudDomain: string;
  tokenFile?: string;
  logLevel: string;
  workers: number;
}

/** Most router workers one host runs; more than its cores only adds switching. */
const MAX_WORKERS = 256;

/**
 * `geartide router`: the front-end router alone, as an operator runs several behind a load
 * balancer. It follows the broker's route table with the router token, read from
 * GEARTIDE_ROUTER_TOKEN or --token-file (not a flag: command lines show up in `ps`).
 */
export function registerRouterCommand(program: Command): void {
  program
    .command('router')
    .description('run the front-end router: routes <app>-<domain>.<cloud domain> to the app\'s gears, following the broker')
    .requiredOption('--broker <url>', 'the broker URL, e.g. http://127.0.0.1:7480')
    .requiredOption('--port <port>', 'port to listen on (0: any free port)', integerOption(0))
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--cloud-domain <domain>', 'the domain app hosts live under', 'localhost')
    .option('--token-file <file>', 'read the router token from this file (default: $GEARTIDE_ROUTER_TOKEN)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent', 'info')
    .option('--workers <n>', 'router processes sharing the port, or "auto": one per core', workersOption, 1)
    .action(async (options: RouterCommandOptions) => {
      const token = routerToken(options.tokenFile, process.env);
      let brokerUrl: URL;
      try {
        brokerUrl = new URL(options.broker);
      } catch {
        throw new UsageError(`--broker is not a URL: ${options.broker}`, '--broker');
      }
      if (options.port > 65_535) throw new UsageError('--port must be at most 65535', '--port');
      // Imported here, not at the top: every other command would pay for loading the router.
      const { createRouterLogger, routerUrl, startRouter } = await import('../router/router.ts');
      const log = createRouterLogger(options.logLevel);
      const listening = (url: string, workers: string) => {
        log.info({ url, broker: brokerUrl.origin, cloudDomain: options.cloudDomain, workers: options.workers }, 'router listening');
        process.stdout.write(`geartide router listening on ${url} (${workers}routes from ${brokerUrl.origin}, apps under .${options.cloudDomain})\n`);
      };
      if (cluster.isPrimary && options.workers > 1) {
        const { superviseRouterWorkers } = await import('../router/router-workers.ts');
        process.exitCode = await superviseRouterWorkers({
          workers: options.workers,
          log,
          stopWhen: waitForShutdownSignal(),
          onListening: (port) => listening(routerUrl(options.host, port), `${options.workers} workers, `),
        });
        return;
      }
      try {
        const router = await startRouter({ broker: { url: brokerUrl.href, token }, host: options.host, port: options.port, cloudDomain: options.cloudDomain, log });
        // A worker's primary says it once for all of them.
        if (cluster.isPrimary) listening(router.url, '');
        await waitForShutdownSignal();
        await router.close();
      } finally {
        // A worker's channel to its primary would keep it alive, stopped or failed: let go of it.
        cluster.worker?.disconnect();
      }
    });
}

/** `--workers`: a whole number within 1..MAX_WORKERS, or `auto` (the cores Node may use). */
export function workersOption(text: string): number {
  if (text.trim().toLowerCase() === 'auto') return Math.min(MAX_WORKERS, availableParallelism());
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError('expected a whole number or "auto"');
  const workers = Number(text);
  if (workers < 1 || workers > MAX_WORKERS) throw new InvalidArgumentError(`must be within 1..${MAX_WORKERS}, or "auto"`);
  return workers;
}

/** The router token: from --token-file when given, else from GEARTIDE_ROUTER_TOKEN. */
export function routerToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv): string {
  if (tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(tokenFile, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read --token-file ${tokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, '--token-file');
    }
    const token = text.trim();
    if (token === '') throw new UsageError(`--token-file ${tokenFile} is empty`, '--token-file');
    return token;
  }
  const token = env.GEARTIDE_ROUTER_TOKEN?.trim() ?? '';
  if (token === '') throw new UsageError('the router needs its token: set GEARTIDE_ROUTER_TOKEN or pass --token-file', 'GEARTIDE_ROUTER_TOKEN');
  return token;
}

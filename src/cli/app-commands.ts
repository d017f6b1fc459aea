import { Option } from 'commander';
import type { Command } from 'commander';
import { GeartideError, isGeartideError } from '../core/errors.ts';
import type { ApiApp, ApiSource, CreateAppRequest, ScaleAppRequest } from './api-types.ts';
import type { BrokerClient } from './broker-client.ts';
import type { CliContext } from './cli-context.ts';
import { resolveDomainName } from './domain-resolution.ts';
import { integerOption } from './integer-option.ts';
import { renderApp } from './app-view.ts';
import { parseScaleRange } from './scale-range.ts';
import { packSourceDirectory } from './source-packer.ts';
import { formatTable } from './table.ts';
import { UsageError } from './usage-error.ts';

interface DomainOption {
  namespace?: string;
}

/**
 * What the CLI says when a create or scale is held: the broker keeps a request that finds no room
 * while its pool adds a node host (APP_CREATE_WAIT), which takes as long as a host boots.
 */
function waitingForRoom(what: string): (seconds: number) => string {
  return (seconds) => `still waiting for ${what} after ${seconds} s: when no node host has room, the broker holds the request while the autoscaler adds one (up to APP_CREATE_WAIT)…`;
}

/** `geartide app …`: create, inspect, start/stop/restart, scale and delete apps. */
export function registerAppCommands(program: Command, context: CliContext): void {
  const app = program.command('app').description('manage your apps');
  const domainOption = (): Option =>
    new Option('-n, --namespace <domain>', 'the domain of the app (default: your only domain)');

  app
    .command('create')
    .description('create an app from a cartridge')
    .argument('<name>', 'lower-case letters and digits, at most 32')
    .argument('<cartridge>', 'the cartridge to run, e.g. nodejs')
    .addOption(domainOption())
    .option('--gears <n>', 'gears to start with', integerOption(1))
    .option('--scale <min:max>', 'scaling range in gears, e.g. 1:3', parseScaleRange)
    .option('--profile <profile>', 'gear profile (size), e.g. small')
    .option('--from <dir>', "upload DIR (without .git and node_modules) as the app's source instead of the cartridge's built-in app")
    .action(async (name: string, cartridge: string, options: DomainOption & { gears?: number; scale?: { min: number; max: number }; profile?: string; from?: string }, command: Command) => {
      // Packed before any request: a wrong --from fails at once, without touching the broker.
      const archive = options.from === undefined ? undefined : await packSourceDirectory(options.from);
      const client = context.client();
      const domain = await resolveDomainName(client, options.namespace);
      const body: CreateAppRequest = { name, cartridge };
      if (archive !== undefined) body.source = (await uploadSource(client, archive)).id;
      if (options.gears !== undefined) body.gears = options.gears;
      if (options.scale !== undefined) body.scale = options.scale;
      if (options.profile !== undefined) body.gearProfile = options.profile;
      const created = await context.noticeIfSlow(client.createApp(domain, body), waitingForRoom(`app ${name}`));
      if (context.wantsJson(command)) return context.printJson(created);
      context.print(`app ${created.name} created in domain ${created.domain}: ${created.url}\n`);
      context.print(renderApp(created));
    });

  app
    .command('show')
    .description('show an app: URL, state and its gears')
    .argument('<name>', 'app name')
    .addOption(domainOption())
    .action(async (name: string, options: DomainOption, command: Command) => {
      const client = context.client();
      const shown = await client.getApp(await resolveDomainName(client, options.namespace), name);
      if (context.wantsJson(command)) return context.printJson(shown);
      context.print(renderApp(shown));
    });

  app
    .command('list')
    .description('list apps (of one domain with -n, else all you can see)')
    .addOption(new Option('-n, --namespace <domain>', 'only the apps of this domain'))
    .action(async (options: DomainOption, command: Command) => {
      // Without -n, list everything rather than guess a domain: listing is harmless and broader is handier.
      const list = await context.client().listApps(options.namespace);
      if (context.wantsJson(command)) return context.printJson(list);
      if (list.items.length === 0) return context.print('no apps yet: create one with `geartide app create NAME CARTRIDGE`');
      context.print(
        formatTable<ApiApp>(
          [
            { header: 'name', value: (row) => row.name },
            { header: 'domain', value: (row) => row.domain },
            { header: 'cartridge', value: (row) => row.cartridge },
            { header: 'gears', value: (row) => row.gears.length, align: 'right' },
            { header: 'scale', value: (row) => `${row.scale.min}..${row.scale.max}` },
            { header: 'state', value: (row) => row.desiredState },
            { header: 'url', value: (row) => row.url },
          ],
          list.items,
        ),
      );
    });

  const lifecycle = [
    ['start', 'start an app', 'start requested'],
    ['stop', 'stop an app', 'stop requested'],
    ['restart', 'restart an app', 'restart requested'],
  ] as const;
  for (const [action, description, done] of lifecycle) {
    app
      .command(action)
      .description(description)
      .argument('<name>', 'app name')
      .addOption(domainOption())
      .action(async (name: string, options: DomainOption, command: Command) => {
        const client = context.client();
        const result = await client.appAction(await resolveDomainName(client, options.namespace), name, action);
        if (context.wantsJson(command)) return context.printJson(result);
        // Node agents converge on the new desired state on their own; the broker only records it.
        context.print(`app ${result.name} (domain ${result.domain}): ${done}; desired state ${result.desiredState}, ${result.gears.length} gear${result.gears.length === 1 ? '' : 's'}`);
      });
  }

  app
    .command('scale')
    .description('set the number of gears, or the scaling range with --min/--max')
    .argument('<name>', 'app name')
    .argument('[gears]', 'number of gears', integerOption(1))
    .addOption(domainOption())
    .option('--min <n>', 'fewest gears', integerOption(1))
    .option('--max <n>', 'most gears', integerOption(1))
    .action(async (name: string, gears: number | undefined, options: DomainOption & { min?: number; max?: number }, command: Command) => {
      const range = options.min !== undefined || options.max !== undefined;
      if (gears !== undefined && range) throw new UsageError('give either a number of gears or --min/--max, not both');
      if (gears === undefined && !range) throw new UsageError('give a number of gears (app scale NAME N) or --min/--max');
      const client = context.client();
      const domain = await resolveDomainName(client, options.namespace);
      let body: ScaleAppRequest;
      if (gears !== undefined) {
        body = { gears };
      } else {
        // The API takes min and max together; keep the current value of the one not given.
        const current = options.min === undefined || options.max === undefined ? await client.getApp(domain, name) : undefined;
        const min = options.min ?? current?.scale.min ?? 1;
        const max = options.max ?? current?.scale.max ?? min;
        if (max < min) throw new UsageError(`--max (${max}) must not be below --min (${min})`, max === options.max ? 'max' : 'min');
        body = { min, max };
      }
      const scaled = await context.noticeIfSlow(client.scaleApp(domain, name, body), waitingForRoom(`the scale of app ${name}`));
      if (context.wantsJson(command)) return context.printJson(scaled);
      context.print(`app ${scaled.name} (domain ${scaled.domain}): scale ${scaled.scale.min}..${scaled.scale.max}, ${scaled.gears.length} gear${scaled.gears.length === 1 ? '' : 's'}`);
    });

  app
    .command('deploy')
    .description("upload DIR as the app's new source; its gears fetch it and restart")
    .argument('<name>', 'app name')
    .requiredOption('--from <dir>', 'the directory to upload (without .git and node_modules)')
    .addOption(domainOption())
    .action(async (name: string, options: DomainOption & { from: string }, command: Command) => {
      const archive = await packSourceDirectory(options.from);
      const client = context.client();
      const domain = await resolveDomainName(client, options.namespace);
      const source = await uploadSource(client, archive);
      const deployed = await client.deployApp(domain, name, source.id);
      if (context.wantsJson(command)) return context.printJson(deployed);
      // The broker only records the new version; node agents fetch it and restart the gears on their own.
      context.print(`app ${deployed.name} (domain ${deployed.domain}): source ${source.id} deployed (version ${deployed.source?.version ?? '?'}, ${source.size} bytes); gears restart on it`);
    });

  app
    .command('delete')
    .description('delete an app and its gears')
    .argument('<name>', 'app name')
    .addOption(domainOption())
    .action(async (name: string, options: DomainOption, command: Command) => {
      const client = context.client();
      const domain = await resolveDomainName(client, options.namespace);
      await client.deleteApp(domain, name);
      if (!context.wantsJson(command)) context.print(`app ${name} deleted from domain ${domain}`);
    });
}

/** Uploads a packed source; a refusal says it was the upload that failed, with the broker's reason. */
async function uploadSource(client: BrokerClient, archive: Buffer): Promise<ApiSource> {
  try {
    return await client.uploadSource(archive);
  } catch (error) {
    // Only the broker's answers are rephrased; an unreachable broker already says so itself.
    if (!isGeartideError(error) || error.context.status === undefined) throw error;
    const reason =
      error.context.status === 413 ? `the packed source is ${archive.byteLength} bytes, more than the broker accepts (its SOURCE_UPLOAD_LIMIT)` : error.message;
    throw new GeartideError(error.code, error.category, `source upload refused: ${reason}`, error.context);
  }
}

import type { Command } from 'commander';
import type { ApiDistrict, ApiDistrictNode, CreateDistrictRequest } from './api-types.ts';
import type { CliContext } from './cli-context.ts';
import { integerOption } from './integer-option.ts';
import { formatFields, formatTable } from './table.ts';

/** `geartide admin district …` (oo-admin-ctl-district): districts, their nodes and UID pools. */
export function registerAdminDistrictCommands(admin: Command, context: CliContext): void {
  const district = admin.command('district').description('manage districts (node hosts of one profile sharing a UID pool)');

  /** Print the district the API answered with, after a one-line summary of what changed. */
  const report = (command: Command, result: ApiDistrict, summary: string): void => {
    if (context.wantsJson(command)) return context.printJson(result);
    context.print(`district ${result.name}: ${summary} (${result.nodes.length} node${result.nodes.length === 1 ? '' : 's'}, ${result.availableUids}/${result.maxCapacity} UIDs free)`);
  };

  district
    .command('create')
    .description('create a district')
    .argument('<name>', 'district name')
    .option('--profile <profile>', 'gear profile of its node hosts')
    .option('--first-uid <n>', 'first UID of its pool (default 1000)', integerOption(1))
    .option('--capacity <n>', 'size of its UID pool (default 6000)', integerOption(1))
    .action(async (name: string, options: { profile?: string; firstUid?: number; capacity?: number }, command: Command) => {
      const body: CreateDistrictRequest = { name };
      if (options.profile !== undefined) body.gearProfile = options.profile;
      if (options.firstUid !== undefined) body.firstUid = options.firstUid;
      if (options.capacity !== undefined) body.maxCapacity = options.capacity;
      const created = await context.client().createDistrict(body);
      report(command, created, `created for gear profile ${created.gearProfile}, UIDs ${created.firstUid}..${created.firstUid + created.maxCapacity - 1}`);
    });

  district
    .command('list')
    .description('list districts')
    .action(async (_options: unknown, command: Command) => {
      const list = await context.client().listDistricts();
      if (context.wantsJson(command)) return context.printJson(list);
      if (list.items.length === 0) return context.print('no districts yet: create one with `geartide admin district create NAME`');
      context.print(
        formatTable<ApiDistrict>(
          [
            { header: 'name', value: (row) => row.name },
            { header: 'profile', value: (row) => row.gearProfile },
            { header: 'nodes', value: (row) => row.nodes.length, align: 'right' },
            { header: 'active nodes', value: (row) => row.nodes.filter((node) => node.active).length, align: 'right' },
            { header: 'uids free', value: (row) => `${row.availableUids}/${row.maxCapacity}`, align: 'right' },
            { header: 'first uid', value: (row) => row.firstUid, align: 'right' },
          ],
          list.items,
        ),
      );
    });

  district
    .command('show')
    .description('show a district and its nodes')
    .argument('<name>', 'district name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const shown = await context.client().getDistrict(name);
      if (context.wantsJson(command)) return context.printJson(shown);
      const details = formatFields([
        ['district', shown.name],
        ['gear profile', shown.gearProfile],
        ['uids', `${shown.firstUid}..${shown.firstUid + shown.maxCapacity - 1}`],
        ['uids free', `${shown.availableUids} of ${shown.maxCapacity}`],
        ['created', shown.createdAt],
      ]);
      const nodes =
        shown.nodes.length === 0
          ? 'no nodes: add one with `geartide admin district add-node DISTRICT NODE`'
          : formatTable<ApiDistrictNode>(
              [
                { header: 'node', value: (node) => node.name },
                { header: 'active', value: (node) => (node.active ? 'yes' : 'no') },
                { header: 'state', value: (node) => node.state },
              ],
              shown.nodes,
            );
      context.print(`${details}\n\n${nodes}`);
    });

  district
    .command('add-node')
    .description('add a node host to a district')
    .argument('<district>', 'district name')
    .argument('<node>', 'node host name')
    .action(async (name: string, node: string, _options: unknown, command: Command) => {
      report(command, await context.client().addDistrictNode(name, node), `node ${node} added`);
    });

  district
    .command('remove-node')
    .description('remove a node host (holding no gears) from a district')
    .argument('<district>', 'district name')
    .argument('<node>', 'node host name')
    .action(async (name: string, node: string, _options: unknown, command: Command) => {
      report(command, await context.client().removeDistrictNode(name, node), `node ${node} removed`);
    });

  district
    .command('deactivate-node')
    .description('stop placing new gears on a node host (its gears keep running)')
    .argument('<district>', 'district name')
    .argument('<node>', 'node host name')
    .action(async (name: string, node: string, _options: unknown, command: Command) => {
      report(command, await context.client().setDistrictNodeActive(name, node, false), `node ${node} deactivated`);
    });

  district
    .command('activate-node')
    .description('place new gears on a node host again')
    .argument('<district>', 'district name')
    .argument('<node>', 'node host name')
    .action(async (name: string, node: string, _options: unknown, command: Command) => {
      report(command, await context.client().setDistrictNodeActive(name, node, true), `node ${node} activated`);
    });

  district
    .command('add-capacity')
    .description('grow the UID pool of a district')
    .argument('<district>', 'district name')
    .argument('<uids>', 'number of UIDs to add', integerOption(1))
    .action(async (name: string, uids: number, _options: unknown, command: Command) => {
      report(command, await context.client().changeDistrictCapacity(name, { add: uids }), `${uids} UIDs added`);
    });

  district
    .command('remove-capacity')
    .description('shrink the UID pool of a district (only unused UIDs)')
    .argument('<district>', 'district name')
    .argument('<uids>', 'number of UIDs to remove', integerOption(1))
    .action(async (name: string, uids: number, _options: unknown, command: Command) => {
      report(command, await context.client().changeDistrictCapacity(name, { remove: uids }), `${uids} UIDs removed`);
    });
}

import type { Command } from 'commander';
import type { CliContext } from './cli-context.ts';
import { registerAdminAutoscalerCommands } from './admin-autoscaler-commands.ts';
import { registerAdminDistrictCommands } from './admin-district-commands.ts';
import { registerAdminNodeCommands } from './admin-node-commands.ts';
import { registerAdminRouterCommand } from './admin-router-commands.ts';
import { registerAdminUserCommands } from './admin-user-commands.ts';
import { registerAdminMoveCommand } from './move-commands.ts';

/** `geartide admin …`: the operator's commands (oo-admin-* in OpenShift v2); the broker checks the role. */
export function registerAdminCommands(program: Command, context: CliContext): void {
  const admin = program.command('admin').description('operator commands: districts, node hosts, routers, gear moves, users, the autoscaler (admin role)');
  registerAdminDistrictCommands(admin, context);
  registerAdminNodeCommands(admin, context);
  registerAdminRouterCommand(admin, context);
  registerAdminUserCommands(admin, context);
  registerAdminMoveCommand(admin, context);
  registerAdminAutoscalerCommands(admin, context);
}

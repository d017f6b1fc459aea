import type { ApiApp, ApiGear } from './api-types.ts';
import { formatFields, formatTable } from './table.ts';

/**
 * The human view of one app, as `app show` and `app create` print it: its details, then one
 * line per gear. A gear whose observed state differs from the desired one shows both, since
 * that gap (a gear not yet started, a stop not yet done) is what the user is looking for.
 */
export function renderApp(app: ApiApp): string {
  const details = formatFields([
    ['app', `${app.name} (domain ${app.domain})`],
    ['url', app.url],
    ['cartridge', app.cartridge],
    ['gear profile', app.gearProfile],
    ['scale', `${app.scale.min}..${app.scale.max} gears`],
    ['state', app.desiredState],
    ...sourceField(app),
    ['created', app.createdAt],
  ]);
  if (app.gears.length === 0) return `${details}\n\nno gears`;
  const gears = formatTable<ApiGear>(
    [
      { header: 'gear', value: (gear) => gear.id },
      { header: 'uid', value: (gear) => gear.uid, align: 'right' },
      { header: 'node', value: (gear) => gear.node },
      { header: 'state', value: (gear) => gearState(gear) },
      { header: 'endpoint', value: (gear) => gear.endpoint },
    ],
    app.gears,
  );
  return `${details}\n\n${gears}`;
}

function sourceField(app: ApiApp): [string, string][] {
  // Absent (not null) from brokers that predate sources: then say nothing rather than guess.
  if (app.source === undefined) return [];
  if (app.source === null) return [['source', "none (the cartridge's built-in app)"]];
  return [['source', `${app.source.id} (version ${app.source.version}, ${app.source.size} bytes)`]];
}

function gearState(gear: ApiGear): string {
  return gear.observedState === gear.desiredState ? gear.observedState : `${gear.observedState} (want ${gear.desiredState})`;
}

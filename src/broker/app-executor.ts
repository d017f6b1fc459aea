import { createHash } from 'node:crypto';

import { ConflictError, ExhaustedError, GeartideError, InputError, NotFoundError } from '../core/errors.ts';
import type { App, AppSource, DesiredState, Domain, Gear, User } from '../core/model.ts';
import { applyPlacement, createPlacementSnapshot, placeGear, type PlacementOrder, type PlacementSnapshot } from '../core/placement.ts';
import type { Store } from '../store/store.ts';
import type { CapacityGate } from './capacity-gate.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import type { EventRecorder } from './event-recorder.ts';
import { checkSourceArchive } from './source-archive-check.ts';

export interface AppSettings {
  readonly cartridges: readonly string[];
  readonly validGearSizes: readonly string[];
  readonly defaultGearSize: string;
}

/**
 * The placement order of a gear profile: `packed` where the autoscaler manages the profile's
 * nodes, `least-loaded` elsewhere (`placementOrderFor` in scale-snapshot.ts decides).
 */
export type PlacementOrderOf = (gearProfile: string) => PlacementOrder;

export const LEAST_LOADED_EVERYWHERE: PlacementOrderOf = () => 'least-loaded';

export interface CreateAppRequest {
  readonly name: string;
  readonly cartridge: string;
  readonly gears?: number;
  readonly scale?: { readonly min: number; readonly max: number };
  readonly gearProfile?: string;
  /** An uploaded source (POST /sources) of the caller's; without one the cartridge's built-in app runs. */
  readonly source?: string;
}

/** What a request held for room is, for the event recorded when its client gives up. */
interface HeldRequest {
  readonly subject: string;
  /** e.g. "the create of app hello (2 small gear(s))". */
  readonly what: string;
  readonly userId: string;
}

/**
 * Carries out app changes: the only code that writes apps and gears. Each change is one store
 * transaction — placement, UID allocation and the rows commit together or not at all — so a
 * placement that finds no room, or any other failure, never leaves a half-created app.
 */
export class AppExecutor {
  constructor(
    private readonly store: Store,
    private readonly events: EventRecorder,
    private readonly changes: ChangeNotifier,
    private readonly settings: AppSettings,
    private readonly clock: () => number,
    /** With the autoscaler on: what to do when placement finds no room (wait for a node, or refuse saying why). */
    private readonly gate?: CapacityGate,
    private readonly placementOrder: PlacementOrderOf = LEAST_LOADED_EVERYWHERE,
  ) {}

  /**
   * Runs `place` (one whole transaction: nothing is left behind when it fails) and, when it
   * finds no room and the autoscaler can bring some, runs it again as nodes arrive, until the
   * gate refuses.
   */
  private async withRoom<T>(gearProfile: string, gears: number, place: () => Promise<T>, signal: AbortSignal | undefined, request: HeldRequest): Promise<T> {
    const deadline = this.gate?.deadline() ?? 0;
    const started = this.clock();
    for (;;) {
      try {
        return await place();
      } catch (error) {
        if (this.gate === undefined || !(error instanceof ExhaustedError) || error.code !== 'no_capacity') throw error;
        await this.gate.waitForRoom({ error, gearProfile, gears, deadline }, signal);
        // The client went away while it waited (Ctrl-C): nobody will read the answer, so
        // nothing is created behind its back; it can ask again.
        if (signal?.aborted) {
          const waitedSeconds = Math.round((this.clock() - started) / 1000);
          await this.events.record({
            kind: 'app.request-abandoned',
            subject: request.subject,
            message: `${request.what} was abandoned after waiting ${waitedSeconds} s for room: the client closed its connection; nothing was changed`,
            userId: request.userId,
            data: { gearProfile, gears, waitedSeconds },
          });
          throw new GeartideError('client_gone', 'transient', `the client closed its connection while the request waited for room: nothing was changed (${error.message})`, error.context);
        }
      }
    }
  }

  /**
   * Checks an uploaded archive (InputError `invalid_source` naming `body` when it is not a safe
   * tar.gz) and stores it as `caller`'s. Nothing is stored when the check fails.
   */
  async uploadSource(caller: User, archive: Buffer): Promise<AppSource> {
    await checkSourceArchive(archive);
    const sha256 = createHash('sha256').update(archive).digest('hex');
    return this.store.createSource({ ownerId: caller.id, archive, sha256, now: this.clock() });
  }

  /**
   * The source `id` if `caller` uploaded it. Anyone else's upload is reported as not found, not
   * forbidden, like other users' domains: ids cannot be probed.
   */
  async requireOwnSource(caller: User, id: string): Promise<AppSource> {
    const [source] = await this.store.listSources({ ids: [id] });
    if (source === undefined || source.ownerId !== caller.id) throw new NotFoundError('source', id, 'source');
    return source;
  }

  /**
   * Points the app at another of the caller's sources and bumps its source version: node agents
   * see the new version in their watch, fetch the archive and restart the gears on it.
   */
  async deployApp(caller: User, owner: User, domain: Domain, app: App, sourceId: string): Promise<number> {
    const source = await this.requireOwnSource(caller, sourceId);
    const version = await this.store.setAppSource(app.id, source.id);
    this.changes.notify();
    await this.events.record({
      kind: 'app.deployed',
      subject: `app:${domain.name}/${app.name}`,
      message: `app ${app.name} deployed source ${source.id} (version ${version}, ${source.size} bytes)`,
      userId: owner.id,
      data: { app: app.id, source: source.id, sourceVersion: version, sha256: source.sha256 },
    });
    return version;
  }

  /**
   * `caller` is who asks (an admin may create apps in other users' domains); `owner` owns the
   * domain. `signal`: aborted when the client goes away; a create still waiting for room then
   * stops, creating nothing.
   */
  async createApp(owner: User, domain: Domain, request: CreateAppRequest, caller: User = owner, signal?: AbortSignal): Promise<{ app: App; gears: Gear[] }> {
    if (!this.settings.cartridges.includes(request.cartridge)) {
      throw new InputError(`cartridge '${request.cartridge}' is not offered here; choose one of: ${this.settings.cartridges.join(', ')}`, 'cartridge', 'unknown_cartridge');
    }
    const gearProfile = request.gearProfile ?? this.settings.defaultGearSize;
    if (!this.settings.validGearSizes.includes(gearProfile)) {
      throw new InputError(`gear profile '${gearProfile}' is not offered here; choose one of: ${this.settings.validGearSizes.join(', ')}`, 'gearProfile', 'unknown_gear_profile');
    }
    if (request.gears !== undefined && request.scale !== undefined) {
      throw new InputError('give either gears (a fixed count) or scale (a range), not both', 'scale');
    }
    const range = request.scale ?? { min: request.gears ?? 1, max: request.gears ?? 1 };
    if (range.max < range.min) throw new InputError(`scale.max (${range.max}) is below scale.min (${range.min})`, 'scale.max');
    const source = request.source === undefined ? undefined : await this.requireOwnSource(caller, request.source);

    const result = await this.withRoom(gearProfile, range.min, () => this.store.transaction(async (tx) => {
      const now = this.clock();
      await this.checkGearLimit(tx, owner, range.min, request.gears !== undefined ? 'gears' : 'scale.min');
      // IMPORTANT: the app row goes in first, because a duplicate name must fail as
      // `app_exists` before placement could report a misleading lack of room.
      const app = await tx.createApp({
        name: request.name,
        domainId: domain.id,
        cartridge: request.cartridge,
        gearProfile,
        scaleMin: range.min,
        scaleMax: range.max,
        desiredState: 'started',
        sourceId: source?.id ?? null,
        now,
      });
      const gears = await this.addGears(tx, app, range.min, new Map());
      return { app, gears };
    }), signal, { subject: `app:${domain.name}/${request.name}`, what: `the create of app ${request.name} (${range.min} ${gearProfile} gear(s))`, userId: owner.id });
    this.changes.notify();
    await this.events.record({
      kind: 'app.created',
      subject: `app:${domain.name}/${request.name}`,
      message: `app ${request.name} (${request.cartridge}, ${gearProfile}) created in domain ${domain.name} with ${result.gears.length} gear(s)`,
      userId: owner.id,
      data: { app: result.app.id, gears: result.gears.map((gear) => gear.id), ...(source ? { source: source.id } : {}) },
    });
    return result;
  }

  /**
   * Sets the gear count (`gears`) or the range (`min`/`max`); the count is kept inside the
   * range, starting at its minimum. New gears are placed with the spread rule; removed gears
   * come from the nodes holding most of the app, newest first.
   */
  async scaleApp(owner: User, domain: Domain, app: App, request: { gears?: number; min?: number; max?: number }, signal?: AbortSignal): Promise<Gear[]> {
    if (request.gears !== undefined && (request.min !== undefined || request.max !== undefined)) {
      throw new InputError('give either gears or min/max, not both', 'gears');
    }
    if (request.gears === undefined && request.min === undefined && request.max === undefined) {
      throw new InputError('give gears, or min and/or max', 'gears', 'missing_field');
    }
    const min = request.gears ?? request.min ?? app.scaleMin;
    const max = request.gears ?? request.max ?? app.scaleMax;
    if (max < min) throw new InputError(`max (${max}) is below min (${min})`, request.max !== undefined ? 'max' : 'min');

    const subject = `app:${domain.name}/${app.name}`;
    const { before, after } = await this.withRoom(app.gearProfile, Math.max(1, min), () => this.store.transaction(async (tx) => {
      const gears = await tx.listGears({ appId: app.id });
      const target = Math.min(Math.max(gears.length, min), max);
      await tx.setAppScale(app.id, min, max);
      if (target > gears.length) {
        await this.checkGearLimit(tx, owner, target - gears.length, request.gears !== undefined ? 'gears' : 'min');
        const byNode = countByNode(gears);
        await this.addGears(tx, { ...app, scaleMin: min, scaleMax: max }, target - gears.length, byNode);
      } else if (target < gears.length) {
        for (const gear of chooseGearsToRemove(gears, gears.length - target)) await tx.deleteGear(gear.id);
      }
      return { before: gears.length, after: target };
    }), signal, { subject, what: `the scale of app ${app.name} to ${min}–${max} gear(s)`, userId: owner.id });
    this.changes.notify();
    if (before !== after) {
      await this.events.record({
        kind: 'app.scaled',
        subject,
        message: `app ${app.name} scaled from ${before} to ${after} gear(s) (range ${min}–${max})`,
        userId: owner.id,
        data: { app: app.id, from: before, to: after, min, max },
      });
    }
    return this.store.listGears({ appId: app.id });
  }

  async setDesiredState(owner: User, domain: Domain, app: App, state: DesiredState): Promise<void> {
    await this.store.setAppDesiredState(app.id, state);
    this.changes.notify();
    await this.events.record({
      kind: state === 'started' ? 'app.started' : 'app.stopped',
      subject: `app:${domain.name}/${app.name}`,
      message: `app ${app.name} ${state === 'started' ? 'started' : 'stopped'}`,
      userId: owner.id,
      data: { app: app.id },
    });
  }

  async restartApp(owner: User, domain: Domain, app: App): Promise<void> {
    if (app.desiredState === 'stopped') {
      throw new ConflictError('app_stopped', `app ${app.name} is stopped; start it instead of restarting it`, { field: 'app' });
    }
    const generation = await this.store.bumpAppRestartGeneration(app.id);
    this.changes.notify();
    await this.events.record({
      kind: 'app.restarted',
      subject: `app:${domain.name}/${app.name}`,
      message: `app ${app.name} restart requested (generation ${generation})`,
      userId: owner.id,
      data: { app: app.id, restartGeneration: generation },
    });
  }

  async deleteApp(owner: User, domain: Domain, app: App): Promise<void> {
    await this.store.deleteApp(app.id);
    this.changes.notify();
    await this.events.record({
      kind: 'app.deleted',
      subject: `app:${domain.name}/${app.name}`,
      message: `app ${app.name} deleted from domain ${domain.name}`,
      userId: owner.id,
      data: { app: app.id },
    });
  }

  private async checkGearLimit(tx: Store, owner: User, adding: number, field: string): Promise<void> {
    const used = await tx.countUserGears(owner.id);
    if (used + adding > owner.maxGears) {
      throw new ConflictError(
        'gear_limit_reached',
        `user ${owner.login} may own ${owner.maxGears} gear(s) and has ${used}; ${adding} more would exceed the limit`,
        { field, maxGears: owner.maxGears, used },
      );
    }
  }

  /** Places and creates `count` gears inside the caller's transaction. */
  private async addGears(tx: Store, app: App, count: number, appGearsByNode: Map<string, number>): Promise<Gear[]> {
    if (count === 0) return [];
    await tx.lockPlacement(app.gearProfile);
    const snapshot = await loadPlacementSnapshot(tx, app.gearProfile, this.placementOrder(app.gearProfile));
    const created: Gear[] = [];
    const now = this.clock();
    for (let index = 0; index < count; index++) {
      const placement = placeGear(snapshot, { appId: app.id, gearProfile: app.gearProfile, appGearsByNode });
      applyPlacement(snapshot, placement);
      appGearsByNode.set(placement.nodeId, (appGearsByNode.get(placement.nodeId) ?? 0) + 1);
      const uid = await tx.allocateUid(placement.districtId);
      created.push(
        await tx.createGear({ appId: app.id, nodeId: placement.nodeId, districtId: placement.districtId, uid, desiredState: app.desiredState, now }),
      );
    }
    return created;
  }
}

/** The placement planner's view of one profile, read inside the placing transaction. */
export async function loadPlacementSnapshot(
  store: Pick<Store, 'listPlacementNodes' | 'listDistricts'>,
  gearProfile: string,
  order: PlacementOrder = 'least-loaded',
): Promise<PlacementSnapshot> {
  // Every node of the profile, not only active ones: the planner picks candidates itself, and
  // when none fits it explains why ("1 node is lost ('n1')"), which it can only do if it sees
  // them. Gone nodes never come back, so they are no reason worth telling. Each node's active
  // gears are the store's count, kept with the gears and moves in the same transactions.
  const nodes = await store.listPlacementNodes(gearProfile);
  const districts = (await store.listDistricts()).filter((district) => district.gearProfile === gearProfile);
  return createPlacementSnapshot({
    order,
    nodes,
    districts: districts.map((district) => ({
      id: district.id,
      name: district.name,
      gearProfile: district.gearProfile,
      availableUids: district.availableUids,
    })),
  });
}

function countByNode(gears: readonly Gear[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const gear of gears) counts.set(gear.nodeId, (counts.get(gear.nodeId) ?? 0) + 1);
  return counts;
}

/** Scale-down keeps the spread: take from the node holding most of the app, newest gear first. */
export function chooseGearsToRemove(gears: readonly Gear[], count: number): Gear[] {
  const byNode = new Map<string, Gear[]>();
  for (const gear of [...gears].sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id))) {
    const list = byNode.get(gear.nodeId) ?? [];
    list.push(gear);
    byNode.set(gear.nodeId, list);
  }
  const chosen: Gear[] = [];
  for (let index = 0; index < count; index++) {
    let fullest: Gear[] | undefined;
    for (const list of byNode.values()) if (list.length > 0 && (fullest === undefined || list.length > fullest.length)) fullest = list;
    if (fullest === undefined) break;
    chosen.push(fullest.shift()!);
  }
  return chosen;
}

import type { ApiToken, App, AppSource, District, Domain, Gear, Node, PlatformEvent, User } from '../core/model.ts';
import type { Store } from '../store/store.ts';

/** Renders model objects as the REST API's JSON: ISO times, names instead of internal ids. */

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function userView(user: User) {
  return { id: user.id, login: user.login, role: user.role, maxGears: user.maxGears, createdAt: iso(user.createdAt) };
}

export function tokenView(token: ApiToken) {
  return { id: token.id, name: token.name, createdAt: iso(token.createdAt), expiresAt: token.expiresAt === null ? null : iso(token.expiresAt) };
}

export function domainView(domain: Domain, ownerLogin: string) {
  return { id: domain.id, name: domain.name, owner: ownerLogin, createdAt: iso(domain.createdAt) };
}

export function eventView(event: PlatformEvent) {
  return {
    id: event.id,
    time: iso(event.time),
    kind: event.kind,
    severity: event.severity,
    subject: event.subject,
    message: event.message,
    data: event.data,
  };
}

export interface AppUrlSettings {
  readonly cloudDomain: string;
  readonly routerPublicPort: number;
}

/** OpenShift v2's app URL: `http://<app>-<domain>.<CLOUD_DOMAIN>/`. */
export function appUrl(appName: string, domainName: string, settings: AppUrlSettings): string {
  const port = settings.routerPublicPort === 80 ? '' : `:${settings.routerPublicPort}`;
  return `http://${appName}-${domainName}.${settings.cloudDomain}${port}/`;
}

/** Past this many node ids to look up, one listing of every node is the cheaper query. */
const NODES_BY_ID = 500;

/**
 * Resolves node and district ids to names, and source ids to their summaries, once per request:
 * a list of apps with their gears would otherwise look the same node up once per gear.
 */
export class NameResolver {
  /** Node ids looked up so far (undefined: no such node), or every node once that was cheaper. */
  private readonly nodes = new Map<string, Node | undefined>();
  private allNodesLoaded = false;
  private districts: Map<string, District> | undefined;
  private readonly sources = new Map<string, AppSource | undefined>();

  constructor(private readonly store: Pick<Store, 'listNodes' | 'listDistricts' | 'listSources'>) {}

  /** Loads the sources of all `apps` in one query, for a list about to be rendered. */
  async loadSources(apps: readonly App[]): Promise<void> {
    await this.loadSourceIds(apps.map((app) => app.sourceId));
  }

  async source(id: string): Promise<AppSource | undefined> {
    await this.loadSourceIds([id]);
    return this.sources.get(id);
  }

  private async loadSourceIds(ids: readonly (string | null)[]): Promise<void> {
    const missing = [...new Set(ids.filter((id): id is string => id !== null && !this.sources.has(id)))];
    if (missing.length === 0) return;
    const found = new Map((await this.store.listSources({ ids: missing })).map((source) => [source.id, source]));
    for (const id of missing) this.sources.set(id, found.get(id));
  }

  /**
   * Loads the nodes of `gears` in one query, for gears about to be rendered: only those nodes,
   * since a store may hold thousands (every node once, past NODES_BY_ID of them).
   */
  async loadNodesOf(gears: readonly Gear[]): Promise<void> {
    if (this.allNodesLoaded) return;
    const missing = [...new Set(gears.map((gear) => gear.nodeId).filter((id) => !this.nodes.has(id)))];
    if (missing.length === 0) return;
    if (missing.length > NODES_BY_ID) {
      for (const node of await this.store.listNodes()) this.nodes.set(node.id, node);
      this.allNodesLoaded = true;
      return;
    }
    const found = new Map((await this.store.listNodes({ ids: missing })).map((node) => [node.id, node]));
    for (const id of missing) this.nodes.set(id, found.get(id));
  }

  async nodeName(id: string): Promise<string> {
    if (!this.allNodesLoaded && !this.nodes.has(id)) {
      const [node] = await this.store.listNodes({ ids: [id] });
      this.nodes.set(id, node);
    }
    return this.nodes.get(id)?.name ?? id;
  }

  async districtName(id: string | null): Promise<string | null> {
    if (id === null) return null;
    this.districts ??= new Map((await this.store.listDistricts()).map((district) => [district.id, district]));
    return this.districts.get(id)?.name ?? id;
  }
}

export async function gearView(gear: Gear, names: NameResolver) {
  return {
    id: gear.id,
    uid: gear.uid,
    node: await names.nodeName(gear.nodeId),
    district: (await names.districtName(gear.districtId)) ?? gear.districtId,
    desiredState: gear.desiredState,
    observedState: gear.observedState,
    endpoint: gear.endpoint,
    createdAt: iso(gear.createdAt),
  };
}

export async function appView(app: App, domainName: string, gears: readonly Gear[], names: NameResolver, settings: AppUrlSettings) {
  await names.loadNodesOf(gears);
  return {
    id: app.id,
    name: app.name,
    domain: domainName,
    url: appUrl(app.name, domainName, settings),
    cartridge: app.cartridge,
    gearProfile: app.gearProfile,
    scale: { min: app.scaleMin, max: app.scaleMax },
    desiredState: app.desiredState,
    restartGeneration: app.restartGeneration,
    source: await sourceView(app, names),
    createdAt: iso(app.createdAt),
    gears: await Promise.all(gears.map((gear) => gearView(gear, names))),
  };
}

async function sourceView(app: App, names: NameResolver): Promise<{ id: string; version: number; size: number } | null> {
  if (app.sourceId === null) return null;
  // A source row outlives nothing that points at it (no ON DELETE on apps.source_id), so it is
  // there; a size of 0 only shows if that ever changes.
  const source = await names.source(app.sourceId);
  return { id: app.sourceId, version: app.sourceVersion, size: source?.size ?? 0 };
}

export function districtView(district: District, nodes: readonly Node[]) {
  return {
    id: district.id,
    name: district.name,
    gearProfile: district.gearProfile,
    firstUid: district.firstUid,
    maxCapacity: district.maxCapacity,
    availableUids: district.availableUids,
    createdAt: iso(district.createdAt),
    nodes: nodes
      .filter((node) => node.districtId === district.id)
      .map((node) => ({ name: node.name, active: node.state === 'active', state: node.state })),
  };
}

export async function nodeView(node: Node, names: NameResolver) {
  return {
    id: node.id,
    name: node.name,
    gearProfile: node.gearProfile,
    district: await names.districtName(node.districtId),
    state: node.state,
    maxActiveGears: node.maxActiveGears,
    // The broker's count (gears placed here to run, and moves in), beside what the agent reports.
    placedActiveGears: node.activeGears,
    gears: node.reportedGears,
    activeUsagePct: node.activeUsagePct,
    endpoint: node.endpoint,
    scaleEventId: node.scaleEventId,
    lastHeartbeatAt: node.lastHeartbeatAt === null ? null : iso(node.lastHeartbeatAt),
    createdAt: iso(node.createdAt),
  };
}

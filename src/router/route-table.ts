/**
 * The route table the broker publishes and the router follows: one entry per app, keyed by the
 * public host name. `version` is opaque to the router; it hands it back as `since` to resume.
 */
export type RouteDesiredState = 'started' | 'stopped';

export interface RouteEntry {
  /** `<app>-<domain>.<cloud domain>`, lower case. */
  readonly host: string;
  readonly app: string;
  readonly domain: string;
  readonly desiredState: RouteDesiredState;
  /** `host:port` of the app's gears observed started with an endpoint; may be empty. */
  readonly endpoints: readonly string[];
}

export interface RouteTable {
  readonly version: string;
  readonly items: readonly RouteEntry[];
}

/**
 * Where the router gets its table from. The broker's long-poll (`BrokerRouteSource`) in
 * production; a table set by hand (`StaticRouteSource`) in tests and benchmarks.
 */
export interface RouteSource {
  /**
   * Starts following and calls `onTable` with every new table, the first as soon as it is known.
   * Does not block; never throws for an unreachable source (it retries and keeps quiet about
   * the table until it has a new one). Called once.
   */
  start(onTable: (table: RouteTable) => void): void;
  /** Stops following and resolves when nothing is outstanding. Idempotent. */
  stop(): Promise<void>;
  /** What the health endpoint shows about the source: `ok`, or why the table may be stale. */
  status(): RouteSourceStatus;
}

export interface RouteSourceStatus {
  /** `ok`: in touch with the source; `stale`: serving the last table while retrying; `starting`: no table yet. */
  readonly state: 'ok' | 'stale' | 'starting';
  /** The last failure, in words (never a credential). */
  readonly lastError?: string;
}

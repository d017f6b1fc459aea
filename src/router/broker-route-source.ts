import type { Logger } from 'pino';
import { Pool } from 'undici';

import { parseRouteTable } from './route-table-parser.ts';
import type { RouteSource, RouteSourceStatus, RouteTable } from './route-table.ts';

export interface BrokerRouteSourceOptions {
  /** The broker's base URL, e.g. http://127.0.0.1:7480 (a path prefix is kept). */
  readonly brokerUrl: string;
  /** The router token (sent as a bearer token; never logged). */
  readonly token: string;
  /**
   * This router's name, sent as `X-Geartide-Router`: the broker records which table each router
   * has, so a gear move drops its source only once every router has the new table.
   */
  readonly name?: string;
  /** Used for items without `host`. */
  readonly cloudDomain: string;
  readonly log: Logger;
  /** How long the broker may hold a long-poll open (1..60 s). */
  readonly waitSeconds?: number;
  /** Backoff while the broker is unreachable: first delay, doubled per failure up to `maxMs`. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

/**
 * Follows the broker's route table by long-poll: `GET /api/v1/routes?since=<version>&wait=<s>`
 * answers 200 with a new table as soon as it differs from `since` (at once without `since`), or
 * 304 after `wait` seconds unchanged. A change therefore reaches the router within one round
 * trip of the broker's commit. When the broker is unreachable or answers an error, the router
 * keeps the last table and retries with a capped exponential backoff, with jitter so a fleet of
 * routers does not reconnect in lock-step after a broker restart.
 */
export class BrokerRouteSource implements RouteSource {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly waitSeconds: number;
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  private readonly abort = new AbortController();
  private version: string | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private loop: Promise<void> | undefined;
  private wakeSleep: (() => void) | undefined;

  constructor(private readonly options: BrokerRouteSourceOptions) {
    const base = new URL(options.brokerUrl);
    this.path = `${base.pathname.replace(/\/+$/, '')}/api/v1/routes`;
    this.waitSeconds = Math.min(60, Math.max(1, Math.round(options.waitSeconds ?? 30)));
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 10_000 };
    // One connection is enough for one long-poll; the timeouts leave the broker its full `wait`.
    this.pool = new Pool(base.origin, { connections: 1, headersTimeout: (this.waitSeconds + 15) * 1000, bodyTimeout: 30_000 });
  }

  start(onTable: (table: RouteTable) => void): void {
    this.loop ??= this.follow(onTable);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeSleep?.();
    await this.loop;
    await this.pool.close().catch(() => undefined);
  }

  status(): RouteSourceStatus {
    if (this.version === undefined) return { state: 'starting', ...(this.lastError === undefined ? {} : { lastError: this.lastError }) };
    return this.failures === 0 ? { state: 'ok' } : { state: 'stale', ...(this.lastError === undefined ? {} : { lastError: this.lastError }) };
  }

  private async follow(onTable: (table: RouteTable) => void): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        const table = await this.poll();
        if (this.failures > 0) this.options.log.info({ broker: this.options.brokerUrl, failures: this.failures }, 'route table: broker reachable again');
        this.failures = 0;
        this.lastError = undefined;
        if (table !== undefined) {
          this.version = table.version;
          onTable(table);
        }
      } catch (error) {
        if (this.abort.signal.aborted) break;
        this.failures++;
        this.lastError = describe(error);
        const delay = this.delay();
        // The first failure and then every tenth: an outage is one story, not a line per retry.
        if (this.failures === 1 || this.failures % 10 === 0) {
          this.options.log.warn({ broker: this.options.brokerUrl, failures: this.failures, retryInMs: delay, error: this.lastError }, 'route table: cannot reach the broker; serving the last table');
        }
        await this.sleep(delay);
      }
    }
  }

  /** One long-poll: the new table, or undefined when unchanged (304). */
  private async poll(): Promise<RouteTable | undefined> {
    const query = new URLSearchParams({ wait: String(this.waitSeconds) });
    // After a failure, ask without `since`: the broker answers at once with the whole table, so
    // recovery (and health) does not wait a full long-poll, and nothing missed is left behind.
    if (this.version !== undefined && this.failures === 0) query.set('since', this.version);
    const response = await this.pool.request({
      method: 'GET',
      path: `${this.path}?${query.toString()}`,
      headers: { authorization: `Bearer ${this.options.token}`, accept: 'application/json', ...(this.options.name ? { 'x-geartide-router': this.options.name } : {}) },
      signal: this.abort.signal,
    });
    if (response.statusCode === 304) {
      await response.body.dump();
      return undefined;
    }
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`GET /api/v1/routes answered ${response.statusCode}${brokerMessage(text)}`);
    return parseRouteTable(JSON.parse(text) as unknown, this.options.cloudDomain);
  }

  private delay(): number {
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(this.failures - 1, 20));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = done;
    });
  }
}

/** The broker's own error message (`{error:{message}}` or `{message}`), when its body has one. */
function brokerMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
    const message = body.error?.message ?? body.message;
    return typeof message === 'string' ? `: ${message}` : '';
  } catch {
    return '';
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

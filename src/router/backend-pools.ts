import type { EndpointAddress } from './endpoint-address.ts';
import { GearClient, SWEEP_INTERVAL_MS } from './gear-client.ts';

export interface BackendPoolOptions {
  /** Connections per gear endpoint; requests beyond wait for one. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** How long a gear may stay silent (before headers, between body chunks). */
  readonly idleTimeoutMs: number;
}

/** Without a hint from the gear, idle sockets are closed before Node's 5 s server default does. */
const KEEP_ALIVE_TIMEOUT_MS = 4_000;

/**
 * One keep-alive connection pool (`GearClient`) per gear endpoint, created on first use and
 * closed when no route lists the endpoint any more. One timer checks the timeouts of every
 * connection twice a second.
 */
export class BackendPools {
  private readonly pools = new Map<string, GearClient>();
  /** Pools of endpoints no route lists, finishing the requests they carry. */
  private readonly closing = new Set<GearClient>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: BackendPoolOptions) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    // Timeouts alone must not keep a process alive.
    this.sweeper.unref();
  }

  get(target: EndpointAddress): GearClient {
    let pool = this.pools.get(target.endpoint);
    if (pool === undefined) {
      pool = new GearClient(target.host, target.port, { ...this.options, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS });
      // After close, a request still on its way (a retry) fails at once rather than connecting.
      if (this.closed) pool.destroy();
      else this.pools.set(target.endpoint, pool);
    }
    return pool;
  }

  /** Closes the pools of endpoints no route lists (their gears moved or went away). */
  retain(listed: ReadonlySet<string>): void {
    for (const [endpoint, pool] of this.pools) {
      if (listed.has(endpoint)) continue;
      this.pools.delete(endpoint);
      pool.close();
      if (!pool.empty) this.closing.add(pool);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const pools = [...this.pools.values(), ...this.closing];
    this.pools.clear();
    this.closing.clear();
    for (const pool of pools) pool.destroy();
  }

  private sweep(): void {
    const now = Date.now();
    for (const pool of this.pools.values()) pool.sweep(now);
    for (const pool of this.closing) {
      pool.sweep(now);
      if (pool.empty) this.closing.delete(pool);
    }
  }
}

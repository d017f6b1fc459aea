import { Pool } from 'undici';

import type { EndpointAddress } from './endpoint-address.ts';

export interface BackendPoolOptions {
  /** Connections per gear endpoint; requests beyond wait for one. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** How long a gear may stay silent (before headers, between body chunks). */
  readonly idleTimeoutMs: number;
}

/**
 * One undici keep-alive Pool per gear endpoint, created on first use and closed when no route
 * lists the endpoint any more. undici rather than node:http's Agent because it measured ~1.5×
 * the throughput through the router (bench/router.bench.ts): no ClientRequest/IncomingMessage
 * streams per request, and it honours the gear's Keep-Alive timeout hint, which avoids most
 * reuse-after-close races.
 */
export class BackendPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: BackendPoolOptions) {}

  get(target: EndpointAddress): Pool {
    let pool = this.pools.get(target.endpoint);
    if (pool === undefined) {
      pool = new Pool(`http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`, {
        connections: this.options.connections,
        pipelining: 1,
        connectTimeout: this.options.connectTimeoutMs,
        headersTimeout: this.options.idleTimeoutMs,
        bodyTimeout: this.options.idleTimeoutMs,
        // Without a hint from the gear, close idle sockets before Node's 5 s server default does.
        keepAliveTimeout: 4_000,
      });
      this.pools.set(target.endpoint, pool);
    }
    return pool;
  }

  /** Closes the pools of endpoints no route lists (their gears moved or went away). */
  retain(listed: ReadonlySet<string>): void {
    for (const [endpoint, pool] of this.pools) {
      if (listed.has(endpoint)) continue;
      this.pools.delete(endpoint);
      void pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => undefined)));
  }
}

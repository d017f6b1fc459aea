import type { RouteSource, RouteSourceStatus, RouteTable } from './route-table.ts';

/**
 * A route table set by hand: `set(table)` reaches the router at once. For tests, benchmarks, and
 * a router run from a fixed table. Each `set` without a version gets the next integer one.
 */
export class StaticRouteSource implements RouteSource {
  private listener: ((table: RouteTable) => void) | undefined;
  private current: RouteTable | undefined;
  private sequence = 0;

  constructor(initial?: Omit<RouteTable, 'version'> & { version?: string }) {
    if (initial !== undefined) this.set(initial);
  }

  start(onTable: (table: RouteTable) => void): void {
    this.listener = onTable;
    if (this.current !== undefined) onTable(this.current);
  }

  set(table: Omit<RouteTable, 'version'> & { version?: string }): RouteTable {
    this.sequence++;
    this.current = { version: table.version ?? String(this.sequence), items: table.items.map((item) => ({ ...item, host: item.host.toLowerCase() })) };
    this.listener?.(this.current);
    return this.current;
  }

  async stop(): Promise<void> {
    this.listener = undefined;
  }

  status(): RouteSourceStatus {
    return { state: this.current === undefined ? 'starting' : 'ok' };
  }
}

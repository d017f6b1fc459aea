/**
 * Gear creations per second through the broker's HTTP API on the embedded store (SQLite),
 * gear start excluded (no node agent runs: the figure is the broker's own cost — validation,
 * auth, placement, UID allocation, the transaction, the event).
 *
 * A real listening broker on loopback, 20 registered nodes in one district, keep-alive
 * connections, 16 requests in flight. Figures: apps of 1 gear per second, and gears per second
 * when each app is created with 5 gears. The same again with 2,000 nodes, for information: what
 * a create costs that grows with the platform (placement reads every node of the profile).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Pool } from 'undici';

import { createUserWithToken } from '../src/broker/bootstrap-admin.ts';
import { loadBrokerConfig } from '../src/broker/broker-config.ts';
import { createBrokerLogger, startBroker } from '../src/broker/broker.ts';
import type { BenchResult } from './run.ts';

const IN_FLIGHT = 16;
/** Nodes, apps of 1 gear, apps of 5 gears; the first is the one with the target. */
const SCENARIOS = [
  { nodes: 20, singleApps: 3000, multiApps: 600, target: { atLeast: 500 } },
  { nodes: 2000, singleApps: 1000, multiApps: 200, target: undefined },
] as const;
const BOOTSTRAP = 'bench-bootstrap-token-0123456789';

export default async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const scenario of SCENARIOS) results.push(...(await measure(scenario)));
  return results;
}

async function measure({ nodes, singleApps, multiApps, target }: (typeof SCENARIOS)[number]): Promise<BenchResult[]> {
  const home = mkdtempSync(join(tmpdir(), 'geartide-bench-'));
  const config = loadBrokerConfig({
    env: {
      GEARTIDE_HOME: home,
      BROKER_PORT: '0',
      NODE_BOOTSTRAP_TOKEN: BOOTSTRAP,
      BROKER_LOG_LEVEL: 'warn',
      // No agent heartbeats here: keep the registered nodes from being marked lost mid-run.
      NODE_LOST_AFTER: '86400',
    },
  });
  const broker = await startBroker({ config, log: createBrokerLogger('warn') });
  const pool = new Pool(broker.url, { connections: IN_FLIGHT, pipelining: 1 });
  try {
    const { token: adminToken } = await createUserWithToken(broker.context.store, { login: 'admin', role: 'admin', maxGears: 1_000_000, now: Date.now() });
    const call = async (method: 'GET' | 'POST', path: string, token: string, body?: unknown) => {
      const response = await pool.request({
        method,
        path: `/api/v1${path}`,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.body.text();
      if (response.statusCode >= 300) throw new Error(`${method} ${path} → ${response.statusCode}: ${text}`);
      return text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
    };

    await call('POST', '/districts', adminToken, { name: 'bench', maxCapacity: 20_000 });
    console.error(`gear-create: registering ${nodes} nodes`);
    for (let index = 0; index < nodes; index++) {
      await call('POST', '/nodes/register', BOOTSTRAP, { name: `bench-node-${index}`, gearProfile: 'small', maxActiveGears: 5000, district: 'bench' });
    }
    await call('POST', '/domains', adminToken, { name: 'bench' });

    let sequence = 0;
    const createApps = async (count: number, gears: number): Promise<number> => {
      const started = process.hrtime.bigint();
      let next = 0;
      const worker = async () => {
        while (next < count) {
          next++;
          await call('POST', '/domains/bench/apps', adminToken, { name: `a${sequence++}`, cartridge: 'nodejs', gears });
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      return Number(process.hrtime.bigint() - started) / 1e9;
    };

    console.error('gear-create: warm-up');
    await createApps(300, 1);
    console.error(`gear-create: ${singleApps} apps of 1 gear, ${nodes} nodes`);
    const singleSeconds = await createApps(singleApps, 1);
    console.error(`gear-create: ${multiApps} apps of 5 gears, ${nodes} nodes`);
    const multiSeconds = await createApps(multiApps, 5);

    return [
      {
        name: `gear creations via POST /apps (1 gear each), SQLite, ${nodes.toLocaleString('en-US')} nodes`,
        value: Math.round(singleApps / singleSeconds),
        unit: 'gears/s',
        ...(target === undefined ? {} : { target }),
        note: `${singleApps} apps in ${singleSeconds.toFixed(2)} s, ${IN_FLIGHT} in flight`,
      },
      {
        name: `gear creations via POST /apps (5 gears each), SQLite, ${nodes.toLocaleString('en-US')} nodes`,
        value: Math.round((multiApps * 5) / multiSeconds),
        unit: 'gears/s',
        ...(target === undefined ? {} : { target }),
        note: `${multiApps} apps in ${multiSeconds.toFixed(2)} s`,
      },
    ];
  } finally {
    await pool.close();
    await broker.close();
    rmSync(home, { recursive: true, force: true });
  }
}

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ExhaustedError, InputError } from '../../core/errors.ts';
import { isSameProcess, readProcessStartTime } from '../../node/process-identity.ts';
import type { Headroom, IncreaseSizeRequest, Provider, ProviderNode } from '../provider.ts';

const GEARTIDE_BIN = fileURLToPath(new URL('../../../bin/geartide.js', import.meta.url));

export interface LocalProviderOptions {
  /** Where the provider keeps its state file and each node's state directory. */
  readonly home: string;
  readonly brokerUrl: string;
  readonly bootstrapToken: string;
  readonly gearProfile: string;
  readonly maxActiveGears: number;
  /** Node names are `<prefix><n>`; default `local-node-`. */
  readonly namePrefix?: string;
  /** The state file's name under `home` (one per pool); default `local-provider.json`. */
  readonly stateFile?: string;
  /**
   * Most node hosts this machine may run (reported by headroom()); null: no limit. A function is
   * asked on every call, as a cloud's quota would be: raising it needs no restart.
   */
  readonly maxNodes?: number | null | (() => number | null);
  /** How long a new host takes to "boot" before its agent starts (a cloud's boot time); default 0. */
  readonly bootDelayMs?: number;
  /** Extra environment for the agents (tests shorten intervals with it). */
  readonly agentEnv?: NodeJS.ProcessEnv;
}

interface LocalNodeRecord {
  name: string;
  /** When its agent is due to start (boot delay); absent for hosts started at once. */
  bootAt?: number;
  scaleEventId: string | null;
  district: string | null;
  createdAt: number;
  pid: number | null;
  /** /proc start time of `pid`, so a reused pid is never mistaken for our agent. */
  pidStartTime: string | null;
}

interface LocalProviderState {
  nextIndex: number;
  nodes: LocalNodeRecord[];
}

/**
 * Node hosts as local processes: each is a `geartide node` agent with its own state directory
 * and port. What `geartide up` runs on one machine, behind the same interface as the clouds.
 *
 * The list of hosts is kept in `<home>/local-provider.json` (written atomically), so a later
 * `up` brings the same hosts back under the same names and state directories. An agent left
 * running by a killed `up` is adopted (same pid and start time), never started twice.
 */
export class LocalProvider implements Provider {
  readonly kind = 'local';
  private readonly statePath: string;
  private readonly prefix: string;
  private state: LocalProviderState;
  private readonly bootTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: LocalProviderOptions) {
    mkdirSync(options.home, { recursive: true });
    this.statePath = join(options.home, options.stateFile ?? 'local-provider.json');
    this.prefix = options.namePrefix ?? 'local-node-';
    this.state = existsSync(this.statePath) ? (JSON.parse(readFileSync(this.statePath, 'utf8')) as LocalProviderState) : { nextIndex: 1, nodes: [] };
  }

  /**
   * Brings back the hosts of an earlier run: adopts live agents, starts the others again (a host
   * still "booting" starts when its boot delay is over).
   */
  async resume(): Promise<void> {
    for (const record of this.state.nodes) {
      if (isSameProcess(record.pid, record.pidStartTime)) continue;
      if (record.bootAt !== undefined) this.bootLater(record);
      else this.spawnAgent(record);
    }
    this.save();
  }

  async targetSize(): Promise<number> {
    return this.state.nodes.length;
  }

  async increaseSize(request: IncreaseSizeRequest): Promise<ProviderNode[]> {
    if (!Number.isInteger(request.count) || request.count < 1) throw new InputError(`count must be a positive integer, got ${request.count}`, 'count');
    const already = this.state.nodes.filter((node) => node.scaleEventId === request.scaleEventId);
    if (already.length > 0) return already.map((node) => this.view(node));
    const { nodes: room } = await this.headroom();
    if (room !== null && room < request.count) {
      const why = `LOCAL_MAX_NODES=${this.maxNodes()} and ${this.state.nodes.length} node host(s) run, so ${room} more may start`;
      throw new ExhaustedError('cloud_exhausted', `local provider cannot start ${request.count} node host(s): ${why}`, { profile: this.options.gearProfile, district: request.district });
    }
    const created: LocalNodeRecord[] = [];
    const bootDelay = this.options.bootDelayMs ?? 0;
    for (let index = 0; index < request.count; index++) {
      const now = Date.now();
      const record: LocalNodeRecord = {
        name: `${this.prefix}${this.state.nextIndex++}`,
        scaleEventId: request.scaleEventId,
        district: request.district,
        createdAt: now,
        pid: null,
        pidStartTime: null,
        ...(bootDelay > 0 ? { bootAt: now + bootDelay } : {}),
      };
      // IMPORTANT: record the host before starting it, because a crash in between must leave
      // a host the next run knows about (and restarts), not an unknown process.
      this.state.nodes.push(record);
      this.save();
      if (record.bootAt !== undefined) this.bootLater(record);
      else this.spawnAgent(record);
      this.save();
      created.push(record);
    }
    return created.map((node) => this.view(node));
  }

  async deleteNodes(names: readonly string[]): Promise<void> {
    for (const name of names) {
      const record = this.state.nodes.find((node) => node.name === name);
      if (!record) continue; // already gone
      delete record.bootAt; // a host deleted while booting never starts
      await stopAgent(record);
      rmSync(this.nodeDir(name), { recursive: true, force: true });
      this.state.nodes = this.state.nodes.filter((node) => node.name !== name);
      this.save();
    }
  }

  async nodes(): Promise<ProviderNode[]> {
    return this.state.nodes.map((node) => this.view(node));
  }

  async headroom(): Promise<Headroom> {
    const max = this.maxNodes();
    if (max === null) return { nodes: null };
    const left = Math.max(0, max - this.state.nodes.length);
    return left === 0 ? { nodes: 0, reason: `LOCAL_MAX_NODES=${max} node hosts are running` } : { nodes: left };
  }

  /** Stops every agent this provider runs (they stop their gears); the hosts stay recorded. */
  async close(): Promise<void> {
    for (const timer of this.bootTimers) clearTimeout(timer);
    this.bootTimers.clear();
    await Promise.all(this.state.nodes.map((record) => stopAgent(record)));
    this.save();
  }

  private maxNodes(): number | null {
    const max = this.options.maxNodes ?? null;
    return typeof max === 'function' ? max() : max;
  }

  /** Starts the agent when the host's boot delay is over (at once if it already is). */
  private bootLater(record: LocalNodeRecord): void {
    const timer = setTimeout(() => {
      this.bootTimers.delete(timer);
      // Deleted meanwhile, or already started: nothing to boot.
      if (record.bootAt === undefined || !this.state.nodes.includes(record)) return;
      delete record.bootAt;
      this.spawnAgent(record);
      this.save();
    }, Math.max(0, (record.bootAt ?? 0) - Date.now()));
    timer.unref();
    this.bootTimers.add(timer);
  }

  private nodeDir(name: string): string {
    return join(this.options.home, 'nodes', name);
  }

  private spawnAgent(record: LocalNodeRecord): void {
    const dir = this.nodeDir(record.name);
    mkdirSync(dir, { recursive: true });
    const args = [GEARTIDE_BIN, 'node', '--broker', this.options.brokerUrl, '--name', record.name, '--state-dir', dir, '--profile', this.options.gearProfile, '--max-active-gears', String(this.options.maxActiveGears)];
    if (record.district !== null) args.push('--district', record.district);
    if (record.scaleEventId !== null) args.push('--scale-event', record.scaleEventId);
    const log = openSync(join(dir, 'agent.log'), 'a');
    try {
      const child = spawn(process.execPath, args, {
        // The bootstrap token goes through the environment, not argv: argv is world-readable in ps.
        // GEARTIDE_NODE_NAME names the host's process in /proc (the agent's gears do not inherit it).
        env: { ...process.env, ...this.options.agentEnv, GEARTIDE_BOOTSTRAP_TOKEN: this.options.bootstrapToken, GEARTIDE_NODE_NAME: record.name },
        stdio: ['ignore', log, log],
        // Its own process group: a Ctrl-C in up's terminal reaches up, which stops the agents in
        // order, instead of every agent at once; and an agent outlives a SIGKILLed up, to be
        // adopted by the next one.
        detached: true,
      });
      child.unref();
      record.pid = child.pid ?? null;
      record.pidStartTime = child.pid === undefined ? null : readProcessStartTime(child.pid);
    } finally {
      closeSync(log);
    }
  }

  private view(record: LocalNodeRecord): ProviderNode {
    const alive = isSameProcess(record.pid, record.pidStartTime);
    const booting = record.bootAt !== undefined;
    return {
      name: record.name,
      providerId: `local:${record.name}`,
      status: booting ? 'creating' : alive ? 'running' : 'failed',
      scaleEventId: record.scaleEventId,
      district: record.district,
      createdAt: record.createdAt,
      ...(alive || booting ? {} : { error: 'the node agent process is not running' }),
    };
  }

  private save(): void {
    const temporary = `${this.statePath}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(this.state, null, 2)}\n`);
    renameSync(temporary, this.statePath);
  }
}

/** SIGTERM the agent, wait up to 15 s for it (it stops its gears), then SIGKILL its group. */
async function stopAgent(record: LocalNodeRecord): Promise<void> {
  const { pid, pidStartTime } = record;
  if (pid !== null && isSameProcess(pid, pidStartTime)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const deadline = Date.now() + 15_000;
    while (isSameProcess(pid, pidStartTime) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (isSameProcess(pid, pidStartTime)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  record.pid = null;
  record.pidStartTime = null;
}

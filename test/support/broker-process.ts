/**
 * The broker as an operator runs it: `geartide broker --config FILE` in a child process of its
 * own, for tests that SIGKILL it (failpoints) and start it again on the same store and port.
 *
 *   const conf = writeBrokerConf(join(home, 'broker.conf'), { DATASTORE_URL: `sqlite:${home}/broker.db`, BROKER_PORT: String(port) });
 *   const token = createBrokerUser(conf, { GEARTIDE_HOME: home }, 'admin', { admin: true });
 *   const broker = await startBrokerProcess({ confPath: conf, env: { GEARTIDE_HOME: home }, failpoint: 'move:copying' });
 *   const { signal } = await broker.exited;     // 'SIGKILL' once the failpoint is reached
 *
 * Every process a test starts carries GEARTIDE_HOME=<its temporary home>; `killProcessesUnder`
 * finds them (and gears, by GEAR_DIR) from /proc whatever the test did, for `after` hooks.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const GEARTIDE_BIN = fileURLToPath(new URL('../../bin/geartide.js', import.meta.url));

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface BrokerProcess {
  readonly child: ChildProcess;
  /** http://127.0.0.1:PORT, from the broker's "listening" line. */
  readonly url: string;
  /** Everything the broker printed (stdout and stderr). */
  output(): string;
  /** Resolves when the process has exited, with its exit code or signal. */
  readonly exited: Promise<ProcessExit>;
  /** SIGTERM, and waits for the exit (SIGKILL after 10 s). */
  stop(): Promise<ProcessExit>;
}

/** A TCP port nothing listens on right now (on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Writes a broker.conf of `KEY="value"` lines; returns its path. */
export function writeBrokerConf(path: string, keys: Record<string, string>): string {
  writeFileSync(path, Object.entries(keys).map(([key, value]) => `${key}="${value}"\n`).join(''));
  return path;
}

/** `geartide broker create-user LOGIN [--admin] --config FILE`: the user's first token. */
export function createBrokerUser(confPath: string, env: NodeJS.ProcessEnv, login: string, options: { admin?: boolean } = {}): string {
  const args = [GEARTIDE_BIN, 'broker', 'create-user', login, '--config', confPath, ...(options.admin ? ['--admin'] : [])];
  const result = spawnSync(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`geartide broker create-user ${login} failed (${result.status ?? result.signal}): ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * Starts `geartide broker --config FILE` and resolves once it listens. `failpoint` sets
 * GEARTIDE_FAILPOINT (src/broker/failpoint.ts): the broker SIGKILLs itself on reaching it.
 */
export async function startBrokerProcess(options: { confPath: string; env: NodeJS.ProcessEnv; failpoint?: string; timeoutMs?: number }): Promise<BrokerProcess> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...options.env, ...(options.failpoint ? { GEARTIDE_FAILPOINT: options.failpoint } : {}) };
  const child = spawn(process.execPath, [GEARTIDE_BIN, 'broker', '--config', options.confPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<ProcessExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the broker did not listen within ${options.timeoutMs ?? 30_000} ms:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const check = () => {
      const found = /geartide broker listening on (\S+)/.exec(output)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`the broker exited (${exit.code ?? exit.signal}) before listening:\n${output}`));
    });
  });
  return {
    child,
    url,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const exit = await exited;
        clearTimeout(timer);
        return exit;
      }
      return exited;
    },
  };
}

/** The value of `key` in a process's initial environment, or undefined (gone, zombie, not ours). */
export function processEnv(pid: number, key: string): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) return undefined;
    const prefix = `${key}=`;
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((line) => line.startsWith(prefix))?.slice(prefix.length);
  } catch {
    return undefined;
  }
}

/**
 * SIGKILLs every live process that belongs to a test home: those with GEARTIDE_HOME=`home`
 * (broker, agents, router) and those with a GEAR_DIR under it (gears, whose environment the
 * agent builds afresh). Returns how many it killed.
 */
export function killProcessesUnder(home: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const pid = Number(entry);
    const gearDir = processEnv(pid, 'GEAR_DIR');
    if (processEnv(pid, 'GEARTIDE_HOME') === home || (gearDir !== undefined && gearDir.startsWith(`${home}/`))) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone meanwhile
      }
    }
  }
  return killed;
}

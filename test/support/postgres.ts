/**
 * A private PostgreSQL cluster for tests, from Debian's binaries: its own data directory under
 * /tmp, its own port on 127.0.0.1, trust authentication, torn down by stop(). Nothing is shared
 * with a system PostgreSQL, so tests neither need nor disturb one.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const POSTGRES_ROOT = '/usr/lib/postgresql';
const OS_USER = 'postgres';
/** Ports other services of the test machine (the OpenStack harness, brokers) may hold. */
const RESERVED_PORTS = new Set([3306, 4369, 5000, 5672, 8000, 8004, 8774, 8778, 9292, 9696, 25672]);

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:<port>/<db>, a database created for the caller. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** The same, synchronously: for a process 'exit' handler, which cannot wait. */
  stopSync(): void;
}

/**
 * Where the newest PostgreSQL's binaries are (…/NN/bin), or why there are none. Synchronous, so
 * a suite can decide at definition time whether to skip.
 */
export function findPostgresBinaries(): { bin: string } | { missing: string } {
  if (!existsSync(POSTGRES_ROOT)) return { missing: `${POSTGRES_ROOT} does not exist` };
  const versions = readdirSync(POSTGRES_ROOT)
    .filter((entry) => /^\d+(\.\d+)?$/.test(entry) && existsSync(join(POSTGRES_ROOT, entry, 'bin', 'initdb')) && existsSync(join(POSTGRES_ROOT, entry, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (newest === undefined) return { missing: `no */bin/initdb and pg_ctl under ${POSTGRES_ROOT}` };
  return { bin: join(POSTGRES_ROOT, newest, 'bin') };
}

/**
 * Why the PostgreSQL half of a suite cannot run, or undefined when it can. Throws instead when
 * GEARTIDE_TEST_POSTGRES=required (`run-tests.js --postgres`): a skipped run must not pass for
 * a tested one.
 */
export function postgresSkipReason(): string | undefined {
  const found = findPostgresBinaries();
  if ('bin' in found) return undefined;
  const reason = `PostgreSQL binaries not found under ${POSTGRES_ROOT}: ${found.missing}`;
  if (process.env.GEARTIDE_TEST_POSTGRES === 'required') {
    throw new Error(`${reason}. GEARTIDE_TEST_POSTGRES=required: install them with 'apt-get install postgresql'`);
  }
  return reason;
}

/**
 * Starts a cluster and creates database `geartide`. Returns undefined when there are no
 * binaries (and they are not required); see postgresSkipReason for the reason to print.
 */
export async function startTestPostgres(): Promise<TestPostgres | undefined> {
  if (postgresSkipReason() !== undefined) return undefined;
  const found = findPostgresBinaries();
  if (!('bin' in found)) return undefined;
  const { bin } = found;

  const root = mkdtempSync('/tmp/geartide-pg-');
  // initdb refuses to run as root, so as root we run the server tools as the postgres user,
  // which must own the directory.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = osUser(OS_USER);
    chownSync(root, uid, gid);
  }
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const tool = (name: string, args: string[]) => (asRoot ? { file: 'runuser', args: ['-u', OS_USER, '--', join(bin, name), ...args] } : { file: join(bin, name), args });

  const exec = async (name: string, args: string[]) => {
    const command = tool(name, args);
    try {
      await run(command.file, command.args, { cwd: root });
    } catch (error) {
      const output = error as { stderr?: string; stdout?: string; message: string };
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw new Error(`${name} failed: ${output.stderr || output.stdout || output.message}${log ? `\n--- ${logFile}\n${log}` : ''}`);
    }
  };

  const stopArgs = ['stop', '-D', dataDir, '-m', 'fast', '-w'];
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    const command = tool('pg_ctl', stopArgs);
    spawnSync(command.file, command.args, { stdio: 'ignore', timeout: 30_000 });
    rmSync(root, { recursive: true, force: true });
  };

  try {
    // A throwaway cluster: no fsync (nothing to keep after a crash), C locale (fast, predictable).
    await exec('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const port = await startOnFreePort(exec, dataDir, root, logFile);
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query('create database geartide');
    } finally {
      await admin.end();
    }
    return {
      url: `postgres://postgres@127.0.0.1:${port}/geartide`,
      port,
      stopSync,
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await exec('pg_ctl', stopArgs);
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    stopSync();
    throw error;
  }
}

/**
 * Asks the OS for a free port, then starts the server on it. Another process can take the port
 * between the two steps, so a failed start is retried on a new port a few times.
 */
async function startOnFreePort(exec: (name: string, args: string[]) => Promise<void>, dataDir: string, socketDir: string, logFile: string): Promise<number> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const options = [
      `-p ${port}`,
      // Only loopback: a test cluster with trust authentication must not be reachable from outside.
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${socketDir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    try {
      await exec('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options]);
      return port;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(chosen));
      });
    });
    if (port !== 0 && !RESERVED_PORTS.has(port)) return port;
  }
}

function osUser(name: string): { uid: number; gid: number } {
  if (userInfo().username === name) return { uid: process.getuid!(), gid: process.getgid!() };
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  const fields = line?.split(':');
  if (fields === undefined || fields.length < 4) throw new Error(`OS user '${name}' not found; install PostgreSQL with 'apt-get install postgresql'`);
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

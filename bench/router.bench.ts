/**
 * The router's cost on the request path: the same gear-like backend (a node:http hello server in
 * its own process) measured three ways, by a keep-alive load client (undici Pool) in its own
 * process so it never shares an event loop with what it measures:
 *
 *   direct   client → backend
 *   router   client → geartide router (own process, static route table) → backend
 *   nginx    client → nginx (1 worker, keep-alive upstream, generated config) → backend
 *   floor    client → a reference proxy of node:http + undici and nothing else (no routing, no
 *            header rewriting, no health, no retries) → backend. A labelled model, not a product:
 *            what the router's two libraries cost by themselves, so the router's own cost is the
 *            difference.
 *
 * Besides requests/s, each proxy's CPU per request (user + system time of its process over the
 * saturating run, from /proc) is printed: on a machine whose few cores the client, proxy and
 * backend share, requests/s swing with scheduling, while CPU per request is steady; and it is
 * what a proxy costs per core when it has cores of its own.
 *
 * Two loads each: a saturating one (32 requests in flight) for requests/s, and a sequential one
 * (1 in flight) for the latency one hop adds when nothing queues. With 32 in flight the latency
 * is mostly queueing (in-flight / throughput), so the added-latency target is judged on the
 * sequential load and the saturated figures are shown for information.
 *
 * The machine has 2 cores and 3–4 busy processes: nothing is pinned, the setup is identical for
 * the three paths (all processes stay up for the whole run, idle when not measured), each run
 * warms up first, and each figure is the median of 3 rounds (the order of the paths rotates per
 * round, so a drift of the machine does not favour one path).
 *
 * This file is also the entry point of its child processes: `router.bench.ts backend|router|client`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { BenchResult } from './run.ts';

const SELF = fileURLToPath(import.meta.url);
const HOST = 'hello-bench.localhost';
const ROUNDS = 5;
const SATURATED = { concurrency: 32, requests: 30_000, warmup: 5_000 };
const SEQUENTIAL = { concurrency: 1, requests: 5_000, warmup: 1_000 };

interface LoadFigures {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  /** The proxy process's CPU time per request over the run (warm-up included), when known. */
  cpuMicros?: number;
}

type PathName = 'direct' | 'router' | 'nginx' | 'floor';

interface PathUnderTest {
  readonly url: string;
  /** The process whose CPU time is the path's cost (undefined for direct, or off Linux). */
  readonly pid?: number | undefined;
}

export default async function run(): Promise<BenchResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'geartide-router-bench-'));
  const children: ChildProcess[] = [];
  let stopNginx: (() => Promise<void>) | undefined;
  try {
    const backend = await startChild(['backend'], children);
    const router = await startChild(['router', `127.0.0.1:${backend.port}`], children);
    const floor = await startChild(['floor', `127.0.0.1:${backend.port}`], children);
    const under: Partial<Record<PathName, PathUnderTest>> = {
      direct: { url: `http://127.0.0.1:${backend.port}` },
      router: { url: `http://127.0.0.1:${router.port}`, pid: router.pid },
      floor: { url: `http://127.0.0.1:${floor.port}`, pid: floor.pid },
    };
    const nginx = await startNginx(work, backend.port);
    let nginxNote: string | undefined;
    if ('skipped' in nginx) {
      nginxNote = nginx.skipped;
      console.error(`router bench: nginx comparison skipped: ${nginx.skipped}`);
    } else {
      under.nginx = { url: nginx.url, pid: nginx.workerPid };
      stopNginx = nginx.stop;
    }
    const paths = (['direct', 'router', 'nginx', 'floor'] as const).filter((path) => under[path] !== undefined);

    const measure = async (load: typeof SATURATED) => {
      const rounds: Record<string, LoadFigures[]> = {};
      for (let round = 0; round < ROUNDS; round++) {
        const order = paths.map((_, at) => paths[(at + round) % paths.length]!);
        for (const path of order) {
          const { url, pid } = under[path]!;
          const before = pid === undefined ? undefined : cpuSeconds(pid);
          const figures: LoadFigures = { ...(await runClient(url, load)) };
          const after = pid === undefined ? undefined : cpuSeconds(pid);
          if (before !== undefined && after !== undefined) figures.cpuMicros = ((after - before) * 1e6) / (load.warmup + load.requests);
          const cpu = figures.cpuMicros === undefined ? '' : `, proxy CPU ${figures.cpuMicros.toFixed(1)} µs/request`;
          console.error(`router bench: ${path.padEnd(6)} c=${load.concurrency} round ${round + 1}: ${figures.rps.toFixed(0)} req/s, p50 ${figures.p50.toFixed(3)} ms, p99 ${figures.p99.toFixed(3)} ms${cpu}${figures.failed > 0 ? `, ${figures.failed} FAILED` : ''}`);
          (rounds[path] ??= []).push(figures);
        }
      }
      return Object.fromEntries(paths.map((path) => [path, medianFigures(rounds[path]!)])) as Partial<Record<PathName, LoadFigures>>;
    };

    const saturated = await measure(SATURATED);
    const sequential = await measure(SEQUENTIAL);
    const results: BenchResult[] = [];
    const spread = `median of ${ROUNDS} rounds`;
    for (const path of paths) {
      const s = saturated[path]!;
      const q = sequential[path]!;
      const failures = s.failed + q.failed;
      results.push(
        { name: `${path}: requests/s, ${SATURATED.concurrency} in flight`, value: Math.round(s.rps), unit: 'req/s', note: `${SATURATED.requests} requests after ${SATURATED.warmup} warm-up, ${spread}; p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms${failures > 0 ? `; ${failures} failed` : ''}` },
        { name: `${path}: p50 latency, 1 in flight`, value: q.p50, unit: 'ms' },
        { name: `${path}: p99 latency, 1 in flight`, value: q.p99, unit: 'ms', note: `${SEQUENTIAL.requests} sequential requests, ${spread}; ${q.rps.toFixed(0)} req/s` },
      );
      if (s.cpuMicros !== undefined) results.push({ name: `${path}: proxy CPU per request, ${SATURATED.concurrency} in flight`, value: s.cpuMicros, unit: 'µs', note: `user + system time of the ${path} process over the run, warm-up included, ${spread}` });
    }
    const direct = { s: saturated.direct!, q: sequential.direct! };
    const routed = { s: saturated.router!, q: sequential.router! };
    results.push(
      { name: 'router added latency p50, 1 in flight', value: routed.q.p50 - direct.q.p50, unit: 'ms' },
      { name: 'router added latency p99, 1 in flight', value: routed.q.p99 - direct.q.p99, unit: 'ms', target: { atMost: 1 } },
      { name: `router added latency p50/p99, ${SATURATED.concurrency} in flight (queueing included)`, value: routed.s.p99 - direct.s.p99, unit: 'ms (p99)', note: `p50 +${(routed.s.p50 - direct.s.p50).toFixed(3)} ms, p99 +${(routed.s.p99 - direct.s.p99).toFixed(3)} ms` },
    );
    const floorCpu = saturated.floor?.cpuMicros;
    if (routed.s.cpuMicros !== undefined && floorCpu !== undefined) {
      results.push({ name: 'router CPU per request over the floor (its own code)', value: routed.s.cpuMicros - floorCpu, unit: 'µs', note: `router ${routed.s.cpuMicros.toFixed(1)} µs, node:http + undici alone ${floorCpu.toFixed(1)} µs` });
    }
    if (saturated.nginx !== undefined) {
      const nginxFigures = { s: saturated.nginx, q: sequential.nginx! };
      results.push(
        { name: 'nginx added latency p99, 1 in flight (for comparison)', value: nginxFigures.q.p99 - direct.q.p99, unit: 'ms', note: `p50 +${(nginxFigures.q.p50 - direct.q.p50).toFixed(3)} ms` },
        { name: 'router requests/s as % of nginx', value: (routed.s.rps / nginxFigures.s.rps) * 100, unit: '%', target: { atLeast: 70 } },
      );
      if (saturated.floor !== undefined) results.push({ name: 'floor requests/s as % of nginx (for comparison)', value: (saturated.floor.rps / nginxFigures.s.rps) * 100, unit: '%', note: 'what node:http + undici alone reach on this machine' });
      if (routed.s.cpuMicros !== undefined && nginxFigures.s.cpuMicros !== undefined) {
        results.push({ name: 'router CPU per request as × nginx', value: routed.s.cpuMicros / nginxFigures.s.cpuMicros, unit: '×', note: 'the requests/s ratio one core each would give is the inverse' });
      }
    } else {
      results.push({ name: 'router requests/s as % of nginx', value: 0, unit: '%', note: `skipped: ${nginxNote ?? 'nginx unavailable'}` });
    }
    return results;
  } finally {
    await stopNginx?.();
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
    rmSync(work, { recursive: true, force: true });
  }
}

function medianFigures(rounds: readonly LoadFigures[]): LoadFigures {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const cpu = rounds.flatMap((round) => (round.cpuMicros === undefined ? [] : [round.cpuMicros]));
  return {
    rps: median(rounds.map((round) => round.rps)),
    p50: median(rounds.map((round) => round.p50)),
    p99: median(rounds.map((round) => round.p99)),
    failed: rounds.reduce((sum, round) => sum + round.failed, 0),
    ...(cpu.length === rounds.length ? { cpuMicros: median(cpu) } : {}),
  };
}

/** User + system CPU seconds a process has used so far, from /proc (undefined where there is none). */
function cpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of those.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** The pid of nginx's one worker: the child of its master (read from the pid file). */
function nginxWorkerPid(masterPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length === 1 ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** Spawns this file in a role and waits for the `{"port":…}` line it prints once listening. */
async function startChild(args: string[], children: ChildProcess[]): Promise<{ port: number; pid: number | undefined }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...(process.env.ROUTER_BENCH_PROFILE !== undefined && args[0] === 'router' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ROUTER_BENCH_PROFILE}`] : []), SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const { port } = await firstJsonLine<{ port: number }>(child, `bench ${args[0]}`);
  return { port, pid: child.pid };
}

function runClient(url: string, load: typeof SATURATED): Promise<LoadFigures> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, 'client', JSON.stringify({ url, host: HOST, ...load })], { stdio: ['ignore', 'pipe', 'inherit'] });
  return firstJsonLine<LoadFigures>(child, 'bench client');
}

function firstJsonLine<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline !== -1) resolve(JSON.parse(buffered.slice(0, newline)) as T);
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before reporting`)));
  });
}

/** A free ephemeral port (nginx needs one in its config, it cannot report what it bound). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startNginx(work: string, backendPort: number): Promise<{ url: string; workerPid: number | undefined; stop: () => Promise<void> } | { skipped: string }> {
  const binary = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'].find((path) => spawnSync(path, ['-v']).status === 0);
  if (binary === undefined) return { skipped: 'no nginx binary on this machine (apt-get install -y nginx)' };
  const port = await freePort();
  const prefix = join(work, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const config = join(prefix, 'nginx.conf');
  // As root, nginx would hand its worker to "nobody"; the brief is to run as the current user.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};` : '';
  writeFileSync(
    config,
    `${user}
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream gear { server 127.0.0.1:${backendPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://gear;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Port $server_port;
    }
  }
}
`,
  );
  const child = spawn(binary, ['-p', prefix, '-c', config, '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) {
      let log = '';
      try {
        log = readFileSync(join(prefix, 'error.log'), 'utf8');
      } catch {
        // no log written
      }
      return { skipped: `nginx did not start: ${(stderr + log).trim().split('\n').slice(-2).join(' ')}` };
    }
    const answered = await fetch(`http://127.0.0.1:${port}/`).then((response) => response.ok, () => false);
    if (answered) break;
    if (Date.now() - started > 5_000) {
      child.kill('SIGTERM');
      return { skipped: 'nginx did not answer within 5 s' };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    workerPid: child.pid === undefined ? undefined : nginxWorkerPid(child.pid),
    async stop() {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
    },
  };
}

// ---- child roles ------------------------------------------------------------------------------

async function backendRole(): Promise<void> {
  const body = 'hello from a gear\n';
  const server = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

/**
 * The reference floor: node:http in, undici out, response headers passed through as parsed.
 * Only for this bench's one GET route; it lacks everything that makes the router a router.
 */
async function floorRole(endpoint: string): Promise<void> {
  const { Pool } = await import('undici');
  const pool = new Pool(`http://${endpoint}`, { connections: 256, pipelining: 1 });
  const server = createServer((request, response) => {
    pool.dispatch(
      { method: 'GET', path: request.url ?? '/', headers: request.rawHeaders },
      {
        // undici tells the handler styles apart by onRequestStart.
        onRequestStart: () => undefined,
        onResponseStart: (_controller, statusCode, headers) => void response.writeHead(statusCode, headers as Record<string, string>),
        onResponseData: (_controller, chunk) => void response.write(chunk),
        onResponseEnd: () => void response.end(),
        onResponseError: (_controller, error) => void response.destroy(error),
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => void pool.close().then(() => process.exit(0)));
  });
}

async function routerRole(endpoint: string): Promise<void> {
  const { startRouter, createRouterLogger } = await import('../src/router/router.ts');
  const { StaticRouteSource } = await import('../src/router/static-route-source.ts');
  const source = new StaticRouteSource({ items: [{ host: HOST, app: 'hello', domain: 'bench', desiredState: 'started', endpoints: [endpoint] }] });
  const router = await startRouter({ source, log: createRouterLogger('warn') });
  process.stdout.write(`${JSON.stringify({ port: router.port })}\n`);
  process.on('SIGTERM', () => {
    void router.close().then(() => process.exit(0));
  });
}

async function clientRole(options: { url: string; host: string; concurrency: number; requests: number; warmup: number }): Promise<void> {
  const { Pool } = await import('undici');
  const pool = new Pool(options.url, { connections: options.concurrency, pipelining: 1 });
  let failed = 0;
  const latencies = new Float64Array(options.requests);
  const loop = async (count: number, record: boolean) => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const at = next++;
        const started = process.hrtime.bigint();
        try {
          const response = await pool.request({ method: 'GET', path: '/', headers: { host: options.host } });
          await response.body.dump();
          if (response.statusCode !== 200) failed++;
        } catch {
          failed++;
        }
        if (record) latencies[at] = Number(process.hrtime.bigint() - started) / 1e6;
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  };
  await loop(options.warmup, false);
  failed = 0;
  const started = process.hrtime.bigint();
  await loop(options.requests, true);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort();
  const percentile = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  process.stdout.write(`${JSON.stringify({ rps: options.requests / seconds, p50: percentile(50), p99: percentile(99), failed })}\n`);
  await pool.close();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [role, argument] = process.argv.slice(2);
  if (role === 'backend') await backendRole();
  else if (role === 'router') await routerRole(argument!);
  else if (role === 'floor') await floorRole(argument!);
  else if (role === 'client') await clientRole(JSON.parse(argument!) as Parameters<typeof clientRole>[0]);
  else throw new Error(`unknown bench role ${String(role)}`);
}

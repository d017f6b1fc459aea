/**
 * The benchmark harness.
 *
 *   npm run bench                 every bench/*.bench.ts, in file-name order
 *   npm run bench -- placement    only those whose file name contains "placement"
 *   (= node --import tsx bench/run.ts [name-filter])
 *
 * Contract for a benchmark — add `bench/<name>.bench.ts`, nothing else to register:
 *
 *   import type { BenchResult } from './run.ts';
 *   export default async function run(): Promise<BenchResult[]> { … }
 *
 *   - Warm up, then time with `process.hrtime.bigint()`; return the figures, don't assert on them.
 *   - Each figure names its own target (`{ atLeast }` or `{ atMost }`) when it has one; the
 *     harness prints pass/fail against it. A figure without a target is shown for information.
 *   - Progress lines go to stderr (`console.error`) so the table on stdout stays clean.
 *   - Start what you need (a broker, a store in a temp dir) and stop it before resolving, even on
 *     failure (try/finally): benchmarks run one after another in this one process.
 *
 * Exit status: 0 when every target is met, 1 when a target is missed or a benchmark throws,
 * 2 when the filter matches no file.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One figure a benchmark measured. */
export interface BenchResult {
  /** What was measured, e.g. "placeGear + applyPlacement at 10,000 nodes". */
  readonly name: string;
  readonly value: number;
  /** e.g. "placements/s", "ms". */
  readonly unit: string;
  readonly target?: BenchTarget;
  /** Anything that helps read the figure (sample size, spread of rounds). */
  readonly note?: string;
}

/** Met when value ≥ atLeast (throughput) or value ≤ atMost (latency, build time). */
export type BenchTarget = { readonly atLeast: number } | { readonly atMost: number };

/** What a `*.bench.ts` file default-exports. */
export type Benchmark = () => Promise<BenchResult[]>;

interface Row {
  readonly bench: string;
  readonly result: BenchResult | undefined;
  readonly error?: unknown;
}

export function targetMet(result: BenchResult): boolean | undefined {
  const target = result.target;
  if (target === undefined) return undefined;
  return 'atLeast' in target ? result.value >= target.atLeast : result.value <= target.atMost;
}

function formatNumber(value: number): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 1 ? 2 : 4;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatTarget(target: BenchTarget | undefined): string {
  if (target === undefined) return '-';
  return 'atLeast' in target ? `≥ ${formatNumber(target.atLeast)}` : `≤ ${formatNumber(target.atMost)}`;
}

function printTable(rows: readonly Row[]): void {
  const header = ['bench', 'figure', 'value', 'unit', 'target', 'result'];
  const lines = rows.map((row) => {
    if (row.result === undefined) return [row.bench, 'threw', '-', '-', '-', 'FAIL'];
    const met = targetMet(row.result);
    return [row.bench, row.result.name, formatNumber(row.result.value), row.result.unit, formatTarget(row.result.target), met === undefined ? 'info' : met ? 'pass' : 'FAIL'];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const render = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  console.log(render(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const line of lines) console.log(render(line));
  for (const row of rows) {
    if (row.result?.note !== undefined) console.log(`  ${row.bench} / ${row.result.name}: ${row.result.note}`);
  }
}

async function main(filter: string | undefined): Promise<number> {
  const directory = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(directory)
    .filter((file) => file.endsWith('.bench.ts') && (filter === undefined || file.includes(filter)))
    .sort();
  if (files.length === 0) {
    console.error(`no bench/*.bench.ts file matches '${filter ?? ''}'`);
    return 2;
  }
  const rows: Row[] = [];
  for (const file of files) {
    const bench = basename(file, '.bench.ts');
    console.error(`running ${bench} …`);
    try {
      const module = (await import(pathToFileURL(join(directory, file)).href)) as { default?: unknown };
      if (typeof module.default !== 'function') throw new Error(`bench/${file} must default-export an async function returning BenchResult[]`);
      const results = await (module.default as Benchmark)();
      for (const result of results) rows.push({ bench, result });
    } catch (error) {
      console.error(`${bench} threw:`, error);
      rows.push({ bench, result: undefined, error });
    }
  }
  printTable(rows);
  const failed = rows.some((row) => row.result === undefined || targetMet(row.result) === false);
  return failed ? 1 : 0;
}

// Run only as the entry point: benchmarks import this file's types, and must not start a run.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv[2]);
}

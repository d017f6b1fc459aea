import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import { InvalidArgumentError, Option, type Command } from 'commander';

import { loadBrokerConfig } from '../broker/broker-config.ts';
import { InputError, isGeartideError } from '../core/errors.ts';
import { formatSimJson, formatSimTable, formatTimelineCsv, renderSimSvg } from '../sim/sim-report.ts';
import { referencePolicies } from '../sim/policies.ts';
import { SIM_POLICY_NAMES, simSetup, type SimPolicyName } from '../sim/sim-setup.ts';
import { simulate, type SimResult } from '../sim/simulator.ts';
import { parseAlibabaBatch, parseUsageSeries, TRACE_FORMATS, type Trace, type TraceFormat } from '../sim/trace.ts';
import type { CliContext } from './cli-context.ts';
import { integerOption } from './integer-option.ts';
import { UsageError } from './usage-error.ts';

interface SimCommandOptions {
  trace: string;
  format: TraceFormat;
  config?: string;
  bootDelay: number;
  quota?: number;
  failureRate: number;
  moveSeconds: number;
  peakGears?: number;
  policies: readonly SimPolicyName[];
  reference?: boolean;
  out?: string;
}

const DEFAULT_PEAK_GEARS = 2000;

/**
 * `geartide sim`: replay a workload trace against the pool broker.conf describes (the same keys
 * and validation as the broker; the first of AUTOSCALE_POOLS), under geartide's planner and the
 * baselines, and compare node-hours, refusals and moves. Nothing runs but the simulator: no
 * broker, no store, no cloud.
 */
export function registerSimCommand(program: Command, context: CliContext): void {
  program
    .command('sim')
    .description('replay a workload trace against the autoscaler and baselines in the simulator; compare node-hours, refusals and moves')
    .requiredOption('--trace <file>', 'the trace to replay (a CSV)')
    .addOption(new Option('--format <format>', 'how to read the trace').choices(TRACE_FORMATS).makeOptionMandatory())
    .option('--config <file>', 'broker.conf whose pool is simulated (default: $GEARTIDE_HOME/broker.conf, else the defaults)')
    .option('--boot-delay <seconds>', 'seconds from a scale-up request to the node registering', integerOption(0), 60)
    .option('--quota <nodes>', 'most nodes the cloud allows (default: no quota)', integerOption(0))
    .option('--failure-rate <p>', 'probability that a scale-up request fails, 0 to 1', probabilityOption, 0)
    .option('--move-seconds <seconds>', 'seconds one gear move takes', positiveNumberOption, 1)
    .option('--peak-gears <gears>', `usage-series: active gears at the series' maximum (default ${DEFAULT_PEAK_GEARS})`, integerOption(1))
    .addOption(new Option('--policies <names>', `comma-separated, from ${SIM_POLICY_NAMES.join(', ')}`).argParser(policyList).default([...SIM_POLICY_NAMES], 'all'))
    .option('--reference', 'also run the consolidation model (no spare room ahead of demand, nodes emptied by moves at once; 5 % and 20 % over demand): how close to the lower bound this trace allows, and at what cost in moves and waiting creates')
    .option('--out <dir>', 'also write sim.json, timeline.csv and plot.svg there')
    .action((options: SimCommandOptions, command: Command) => {
      if (options.peakGears !== undefined && options.format !== 'usage-series') {
        throw new UsageError(`--peak-gears applies to --format usage-series only`, '--peak-gears');
      }
      const config = loadBrokerConfig({ configPath: options.config, env: { ...context.io.env } });
      const trace = readTrace(options);
      const setup = simSetup(config, trace, {
        bootDelaySeconds: options.bootDelay,
        quota: options.quota ?? null,
        failureRate: options.failureRate,
        moveSeconds: options.moveSeconds,
        policies: options.policies,
      });
      const results: SimResult[] = [];
      for (const policy of [...setup.policies, ...(options.reference ? referencePolicies() : [])]) {
        const started = process.hrtime.bigint();
        results.push(simulate(trace, policy, setup.settings));
        // Progress on stderr: a long trace takes seconds per policy, and stdout stays clean.
        context.warn(`simulated ${policy.name} in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
      }

      const json = context.wantsJson(command);
      if (json) context.io.stdout.write(formatSimJson(results, { settings: setup.settings, notes: setup.notes }));
      else {
        for (const note of setup.notes) context.print(`note: ${note}`);
        context.print(`pool ${setup.pool}: ${setup.settings.maxActiveGears} gears a node, ${setup.settings.minNodes}..${setup.settings.maxNodes} nodes; boot ${setup.settings.bootDelaySeconds} s, quota ${setup.settings.quota ?? 'none'}, failure rate ${setup.settings.failureRate}, ${setup.settings.moveSeconds} s a move`);
        context.print(formatSimTable(results));
      }
      if (options.out !== undefined) {
        const written = writeReport(options.out, results, setup);
        // With --json, stdout holds the JSON alone.
        const line = `wrote ${written.join(', ')}`;
        if (json) context.warn(line);
        else context.print(line);
      }
    });
}

function readTrace(options: SimCommandOptions): Trace {
  let text: string;
  try {
    text = readFileSync(options.trace, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read --trace ${options.trace}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, '--trace');
  }
  const name = basename(options.trace);
  try {
    return options.format === 'alibaba-batch' ? parseAlibabaBatch(text, name) : parseUsageSeries(text, name, { peakGears: options.peakGears ?? DEFAULT_PEAK_GEARS });
  } catch (error) {
    if (!isGeartideError(error)) throw error;
    // The parser names the file and line; say which options led there.
    throw new InputError(`--trace ${options.trace} is not a valid ${options.format} trace: ${error.message}`, '--trace');
  }
}

function writeReport(directory: string, results: readonly SimResult[], setup: ReturnType<typeof simSetup>): string[] {
  try {
    mkdirSync(directory, { recursive: true });
    const files: [string, string][] = [
      ['sim.json', formatSimJson(results, { settings: setup.settings, notes: setup.notes })],
      ['timeline.csv', formatTimelineCsv(results)],
      ['plot.svg', renderSimSvg(results)],
    ];
    return files.map(([file, text]) => {
      const path = join(directory, file);
      writeFileSync(path, text);
      return path;
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) throw error;
    throw new InputError(`cannot write to --out ${directory}: ${code}`, '--out');
  }
}

/** A probability: a plain decimal from 0 to 1 (commander reports it as a usage error, exit 2). */
function probabilityOption(text: string): number {
  const value = plainNumber(text);
  if (value > 1) throw new InvalidArgumentError('must be within 0..1');
  return value;
}

function positiveNumberOption(text: string): number {
  const value = plainNumber(text);
  if (value === 0) throw new InvalidArgumentError('must be more than 0');
  return value;
}

/** `0.5`, `3`, `.25`; not `1e3`, `0x10`, `-1` or an empty string, which Number() would accept. */
function plainNumber(text: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text.trim())) throw new InvalidArgumentError('expected a number, e.g. 0.5');
  return Number(text);
}

function policyList(text: string): SimPolicyName[] {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new InvalidArgumentError(`expected policy names, comma-separated, from ${SIM_POLICY_NAMES.join(', ')}`);
  for (const name of names) {
    if (!(SIM_POLICY_NAMES as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown policy '${name}': choose from ${SIM_POLICY_NAMES.join(', ')}`);
  }
  return [...new Set(names)] as SimPolicyName[];
}

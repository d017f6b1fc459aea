// The real CLI (bin/geartide.js, a child process): `geartide sim` on a small hand-made trace in a
// temp dir, its files, its errors, and once on the real Alibaba 2017 trace when the shared
// folder has it. No broker: the simulator needs none.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { runCli } from './run-cli.ts';

const REAL_TRACE = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'traces', 'alibaba2017-batch_task.csv');

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'geartide-cli-sim-'));
  // Three tasks → apps of 5, 20 and 10 gears (instances / 50); the fourth ends before it starts.
  // With 10 gears a node the demand is 5, 25, 35, 25, 5 gears over 0–600–1200–2400–3600–7200 s:
  // 1, 3, 4, 3, 1 nodes, so the lower bound is (600 + 1800 + 4800 + 3600 + 3600) / 3600 = 4 node-hours
  // and static provisioning for the peak (4 nodes for 2 h) costs 8.
  writeFileSync(
    join(dir, 'tasks.csv'),
    [
      'task_create_time,task_end_time,job_id,task_id,number_of_instances,status',
      '0,7200,1,1,250,Terminated',
      '600,3600,1,2,1000,Terminated',
      '1200,2400,2,3,500,Terminated',
      '5000,4000,3,4,10,Failed',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'broker.conf'), 'AUTOSCALE_NODE_MAX_ACTIVE_GEARS="10"\nAUTOSCALE_MAX_NODES="20"\n');
  writeFileSync(join(dir, 'usage.csv'), 'cpu_util_percent,mem_util_percent\n10,1\n20,1\n40,1\n20,1\n');
  writeFileSync(join(dir, 'small-districts.conf'), 'DISTRICTS_MAX_CAPACITY="100"\n');
  writeFileSync(join(dir, 'big-pool.conf'), 'AUTOSCALE_MAX_NODES="1000"\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The table row of `policy`, split into its cells. */
function row(stdout: string, policy: string): string[] {
  const line = stdout.split('\n').find((each) => each.startsWith(`${policy} `));
  assert.ok(line !== undefined, `no row for ${policy} in:\n${stdout}`);
  return line.trim().split(/\s{2,}/);
}

describe('geartide sim', () => {
  test('prints the trace line and one row per policy; --out writes sim.json, timeline.csv and plot.svg', async () => {
    const out = join(dir, 'out');
    const result = await runCli(['sim', '--trace', join(dir, 'tasks.csv'), '--format', 'alibaba-batch', '--config', join(dir, 'broker.conf'), '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^pool small: 10 gears a node, 1\.\.20 nodes; boot 60 s, quota none, failure rate 0, 1 s a move\n/);
    assert.match(result.stdout, /\ntrace tasks\.csv \(3 apps over 2\.0 h\): alibaba-batch: one app per task \(3 tasks; 1 ending before they start skipped\).*; lower bound 4\.0 node-hours\n/);
    assert.match(result.stdout, /\nPOLICY +NODE-HOURS +X BOUND +REFUSED +DELAYED +DELAY TOTAL +MOVES +UPS +DOWNS +CANCELLED DRAINS +PEAK NODES +EXHAUSTED H\n/);
    assert.deepEqual(row(result.stdout, 'static-peak'), ['static-peak', '8.0', '2.00', '0', '0', '0', '0', '0', '0', '0', '4', '0.0']);
    for (const policy of ['geartide', 'heat', 'cluster-autoscaler']) assert.equal(row(result.stdout, policy).length, 12, policy);
    assert.match(result.stdout, /\nheat +model: Heat \+ Aodh/);
    assert.ok(result.stdout.endsWith(`wrote ${join(out, 'sim.json')}, ${join(out, 'timeline.csv')}, ${join(out, 'plot.svg')}\n`), result.stdout);
    assert.match(result.stderr, /^simulated geartide in \d+\.\d s\n/);

    const json = JSON.parse(readFileSync(join(out, 'sim.json'), 'utf8')) as {
      trace: { lowerBoundNodeHours: number; apps: number };
      settings: { maxActiveGears: number; maxNodes: number; bootDelaySeconds: number; districtUids: number; seed: number };
      policies: { policy: string; nodeHours: number; events: unknown[] }[];
    };
    assert.equal(json.trace.lowerBoundNodeHours, 4);
    assert.equal(json.trace.apps, 3);
    // The pool comes from broker.conf, the district's UIDs from DISTRICTS_MAX_CAPACITY (default).
    const { maxActiveGears, maxNodes, bootDelaySeconds, districtUids, seed } = json.settings;
    assert.deepEqual({ maxActiveGears, maxNodes, bootDelaySeconds, districtUids, seed }, { maxActiveGears: 10, maxNodes: 20, bootDelaySeconds: 60, districtUids: 6000, seed: 1 });
    assert.deepEqual(json.policies.map((each) => each.policy), ['geartide', 'static-peak', 'heat', 'cluster-autoscaler']);
    assert.equal(json.policies[1]!.nodeHours, 8);
    assert.ok(json.policies[0]!.events.length > 0, 'geartide scaled, and its events are kept');

    const csv = readFileSync(join(out, 'timeline.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(csv[0], 'time_s,demand,geartide_placed,geartide_capacity,geartide_nodes,static-peak_placed,static-peak_capacity,static-peak_nodes,heat_placed,heat_capacity,heat_nodes,cluster-autoscaler_placed,cluster-autoscaler_capacity,cluster-autoscaler_nodes');
    // At the start: 5 gears, placed everywhere; static-peak runs its 4 nodes, the others their min of 1.
    assert.equal(csv[1], '0,5,5,10,1,5,40,4,5,10,1,5,10,1');
    assert.ok(csv.some((line) => /^\d+,35,/.test(line)), 'the peak of 35 gears is sampled');
    assert.equal(new Set(csv.map((line) => line.split(',').length)).size, 1, 'every row has every column');

    const svg = readFileSync(join(out, 'plot.svg'), 'utf8');
    assert.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg /);
    assert.match(svg, /<title>Simulated autoscaling on tasks.csv<\/title>/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  });

  test('--json prints the report for scripts, and nothing else on stdout', async () => {
    const result = await runCli(['sim', '--trace', join(dir, 'tasks.csv'), '--format', 'alibaba-batch', '--config', join(dir, 'broker.conf'), '--policies', 'static-peak,geartide', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { policies: { policy: string; ratio: number; timeline: { points: number } }[] };
    assert.deepEqual(json.policies.map((each) => each.policy), ['static-peak', 'geartide'], 'in the order asked');
    assert.equal(json.policies[0]!.ratio, 2);
    assert.ok(json.policies[0]!.timeline.points > 0);
  });

  test('--reference adds the consolidation model after the policies asked for, labelled as a model, closer to the bound than static provisioning', async () => {
    const result = await runCli(['sim', '--trace', join(dir, 'tasks.csv'), '--format', 'alibaba-batch', '--config', join(dir, 'broker.conf'), '--policies', 'static-peak', '--reference', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { policies: { policy: string; label: string; ratio: number; placementsRefused: number }[] };
    assert.deepEqual(json.policies.map((each) => each.policy), ['static-peak', 'consolidation 5%/0s', 'consolidation 20%/0s']);
    for (const reference of json.policies.slice(1)) {
      assert.match(reference.label, /^model: reactive consolidation/);
      assert.ok(reference.ratio < json.policies[0]!.ratio, `${reference.policy}: ${reference.ratio} × the bound, static ${json.policies[0]!.ratio}`);
      assert.equal(reference.placementsRefused, 0);
    }
  });

  test('usage-series with --peak-gears: a peak beyond the district and the pool is said, not hidden', async () => {
    const result = await runCli(['sim', '--trace', join(dir, 'usage.csv'), '--format', 'usage-series', '--peak-gears', '1000', '--config', join(dir, 'small-districts.conf'), '--policies', 'static-peak']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^note: the trace's peak of 1000 active gears exceeds DISTRICTS_MAX_CAPACITY \(100 UIDs\): the simulated district gets 1000000 UIDs/);
    // Defaults: 50 gears a node, at most 10 nodes; the peak needs 20.
    assert.match(result.stdout, /\nnote: the pool's max \(10 nodes, AUTOSCALE_MAX_NODES or max= in AUTOSCALE_POOLS\) is below the 20 nodes of 50 gears the trace's peak of 1000 gears needs/);
    assert.match(result.stdout, /usage-series: 4 rows of 300 s; active gears\(t\) = round\(1000 × u\(t\) \/ 40\.00\)/);
    assert.deepEqual(row(result.stdout, 'static-peak').slice(0, 4), ['static-peak', '6.7', '1.78', '0']);
  });

  test('bad input: one line naming the option; exit 2 for a malformed command line, 1 for a file that is not there or not a trace', async () => {
    const tasks = join(dir, 'tasks.csv');
    const cases: { args: string[]; code: number; want: RegExp }[] = [
      { args: ['--trace', join(dir, 'missing.csv'), '--format', 'alibaba-batch'], code: 1, want: /^error: cannot read --trace .*missing\.csv: ENOENT\n$/ },
      { args: ['--trace', join(dir, 'usage.csv'), '--format', 'alibaba-batch'], code: 1, want: /^error: --trace .*usage\.csv is not a valid alibaba-batch trace: usage\.csv: not an Alibaba batch_task CSV: no column 'task_create_time' in its header\n$/ },
      { args: ['--trace', tasks, '--format', 'alibaba-batch', '--config', join(dir, 'missing.conf')], code: 1, want: /^error: config file .*missing\.conf does not exist \(field: --config\)\n$/ },
      { args: ['--trace', tasks, '--format', 'csv'], code: 2, want: /^error: option '--format <format>' argument 'csv' is invalid\. Allowed choices are alibaba-batch, usage-series\.\n$/ },
      { args: ['--trace', tasks, '--format', 'alibaba-batch', '--boot-delay', 'soon'], code: 2, want: /^error: option '--boot-delay <seconds>' argument 'soon' is invalid\. expected a whole number\n$/ },
      { args: ['--trace', tasks, '--format', 'alibaba-batch', '--failure-rate', '1.5'], code: 2, want: /^error: option '--failure-rate <p>' argument '1\.5' is invalid\. must be within 0\.\.1\n$/ },
      { args: ['--trace', tasks, '--format', 'alibaba-batch', '--move-seconds', '-1'], code: 2, want: /^error: option '--move-seconds <seconds>' argument '-1' is invalid\. expected a number, e\.g\. 0\.5\n$/ },
      { args: ['--trace', tasks, '--format', 'alibaba-batch', '--policies', 'geartide,karpenter'], code: 2, want: /^error: option '--policies <names>' argument 'geartide,karpenter' is invalid\. unknown policy 'karpenter': choose from geartide, static-peak, heat, cluster-autoscaler\n$/ },
      { args: ['--trace', tasks, '--format', 'alibaba-batch', '--peak-gears', '100'], code: 2, want: /^error: --peak-gears applies to --format usage-series only\n$/ },
      { args: ['--format', 'alibaba-batch'], code: 2, want: /^error: required option '--trace <file>' not specified\n$/ },
    ];
    const results = await Promise.all(cases.map(({ args }) => runCli(['sim', ...args])));
    for (const [index, result] of results.entries()) {
      const { args, code, want } = cases[index]!;
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '', args.join(' '));
      assert.match(result.stderr, want, args.join(' '));
    }
  });

  test('the real Alibaba 2017 batch trace, with a pool allowed 1000 nodes', { skip: existsSync(REAL_TRACE) ? false : `${REAL_TRACE} is not there (the shared traces folder is not checked out next to the repo)` }, async () => {
    const result = await runCli(['sim', '--trace', REAL_TRACE, '--format', 'alibaba-batch', '--config', join(dir, 'big-pool.conf'), '--policies', 'geartide,static-peak']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\ntrace alibaba2017-batch_task\.csv \(80280 apps over 17\.4 h\): .*; lower bound 566\.0 node-hours\n/);
    // The peak of 3188 gears needs 64 nodes of 50: static provisioning for 17.4 h.
    assert.deepEqual(row(result.stdout, 'static-peak'), ['static-peak', '1115.5', '1.97', '0', '0', '0', '0', '0', '0', '0', '64', '0.0']);
    const geartide = row(result.stdout, 'geartide');
    assert.ok(Number(geartide[1]) < 1115.5, `geartide pays less than static provisioning: ${geartide.join(' ')}`);
    assert.ok(Number(geartide[4]) > 0 && Number(geartide[6]) > 0, `geartide delays some apps and moves gears: ${geartide.join(' ')}`);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { formatSimDuration, formatSimJson, formatSimTable, formatTimelineCsv, renderSimSvg, simReportJson } from '../../src/sim/sim-report.ts';
import type { SimResult, TimelinePoint } from '../../src/sim/simulator.ts';

const point = (time: number, demand: number, placed: number, capacity: number, nodes: number): TimelinePoint => ({ time, demand, placed, capacity, nodes, provisioning: 0 });

/** A hand-made result of the trace "tiny.csv" (bound 10 node-hours over 2 h); `fields` override. */
function result(policy: string, fields: Partial<SimResult> = {}): SimResult {
  return {
    policy,
    label: `${policy}'s label`,
    trace: 'tiny.csv',
    mapping: 'usage-series: 3 rows of 3600 s',
    durationHours: 2,
    nodeHours: 12.5,
    lowerBoundNodeHours: 10,
    ratio: 1.25,
    apps: 42,
    placementsRefused: 0,
    placementsDelayed: 0,
    totalDelaySeconds: 0,
    moves: 0,
    scaleUps: 0,
    nodesAdded: 0,
    scaleDowns: 0,
    cancelledDrains: 0,
    failedScaleUps: 0,
    peakNodes: 7,
    exhaustedHours: 0,
    events: [],
    timeline: [point(0, 100, 100, 150, 3), point(3600, 300, 280, 300, 7), point(7200, 0, 0, 50, 1)],
    ...fields,
  };
}

const geartide = result('geartide', {
  nodeHours: 11.04,
  ratio: 1.104,
  placementsRefused: 2,
  placementsDelayed: 5,
  totalDelaySeconds: 150,
  moves: 31,
  scaleUps: 4,
  nodesAdded: 6,
  scaleDowns: 3,
  cancelledDrains: 1,
  exhaustedHours: 0.25,
  events: [
    { time: 10, kind: 'scale-up', detail: '2 node(s): usage 85 % ≥ 80 %' },
    { time: 70, kind: 'node-ready', detail: 'sim-node-2' },
  ],
});
const staticPeak = result('static-peak', { nodeHours: 14, ratio: 1.4, timeline: [point(0, 100, 100, 350, 7), point(3600, 300, 300, 350, 7), point(7200, 0, 0, 350, 7)] });

/** The table's cells, row by row (columns are separated by two spaces or more). */
function tableCells(text: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith('POLICY'));
  const rows: string[][] = [];
  for (const line of lines.slice(start)) {
    if (line === '') break;
    rows.push(line.trim().split(/\s{2,}/));
  }
  return rows;
}

describe('the policy table', () => {
  const text = formatSimTable([geartide, staticPeak]);

  test('the first line names the trace, its mapping, its duration and the lower bound', () => {
    assert.equal(text.split('\n')[0], 'trace tiny.csv (42 apps over 2.0 h): usage-series: 3 rows of 3600 s; lower bound 10.0 node-hours');
  });

  test('one row per policy, every figure in its column', () => {
    const rows = tableCells(text);
    assert.deepEqual(rows[0], ['POLICY', 'NODE-HOURS', 'X BOUND', 'REFUSED', 'DELAYED', 'DELAY TOTAL', 'MOVES', 'UPS', 'DOWNS', 'CANCELLED DRAINS', 'PEAK NODES', 'EXHAUSTED H']);
    assert.deepEqual(rows[1], ['geartide', '11.0', '1.10', '2', '5', '3 min', '31', '4', '3', '1', '7', '0.3']);
    assert.deepEqual(rows[2], ['static-peak', '14.0', '1.40', '0', '0', '0', '0', '0', '0', '0', '7', '0.0']);
    assert.equal(rows.length, 3);
  });

  test('what each policy is follows the table, so a baseline says it is a model', () => {
    const lines = text.split('\n');
    assert.equal(lines.at(-2), "geartide     geartide's label");
    assert.equal(lines.at(-1), "static-peak  static-peak's label");
  });

  test('a ratio over a zero bound prints as a dash, not Infinity', () => {
    const rows = tableCells(formatSimTable([result('geartide', { ratio: Infinity, lowerBoundNodeHours: 0 })]));
    assert.equal(rows[1]![2], '-');
  });

  test('results of different traces are refused, and so is an empty list', () => {
    assert.throws(() => formatSimTable([geartide, result('heat', { trace: 'other.csv' })]), /different traces/);
    assert.throws(() => formatSimTable([]), /no results/);
  });
});

describe('formatSimDuration', () => {
  const cases: Record<string, { seconds: number; want: string }> = {
    'no delay prints 0': { seconds: 0, want: '0' },
    'under a minute in seconds': { seconds: 42.4, want: '42 s' },
    'under an hour in minutes': { seconds: 150, want: '3 min' },
    'an hour and more in hours, one decimal': { seconds: 9000, want: '2.5 h' },
  };
  for (const [name, { seconds, want }] of Object.entries(cases)) test(name, () => assert.equal(formatSimDuration(seconds), want));
});

describe('the timeline CSV', () => {
  test('a header of time, demand, and placed/capacity/nodes per policy; one row per sampled instant', () => {
    const lines = formatTimelineCsv([geartide, staticPeak]).split('\n');
    assert.deepEqual(lines, [
      'time_s,demand,geartide_placed,geartide_capacity,geartide_nodes,static-peak_placed,static-peak_capacity,static-peak_nodes',
      '0,100,100,150,3,100,350,7',
      '3600,300,280,300,7,300,350,7',
      '7200,0,0,50,1,0,350,7',
      '',
    ]);
  });

  test('an instant a policy did not sample is left empty, not guessed', () => {
    const short = result('heat', { timeline: [point(0, 100, 90, 100, 2)] });
    const lines = formatTimelineCsv([geartide, short]).trimEnd().split('\n');
    assert.equal(lines[2], '3600,300,280,300,7,,,');
  });
});

describe('the JSON report', () => {
  const json = simReportJson([geartide, staticPeak], { notes: ['a note'] });

  test('the trace once, every metric and event per policy, timelines summarised', () => {
    assert.deepEqual(json.trace, { name: 'tiny.csv', mapping: 'usage-series: 3 rows of 3600 s', apps: 42, durationHours: 2, lowerBoundNodeHours: 10 });
    assert.deepEqual(json.notes, ['a note']);
    assert.equal(json.settings, null);
    const [first] = json.policies;
    assert.equal(first!.policy, 'geartide');
    assert.equal(first!.placementsRefused, 2);
    assert.equal(first!.cancelledDrains, 1);
    assert.deepEqual(first!.events, geartide.events);
    assert.deepEqual(first!.timeline, { points: 3, stepSeconds: 3600, peakDemand: 300, peakCapacity: 300, peakNodes: 7 });
    assert.equal('trace' in first!, false, 'the trace is not repeated per policy');
  });

  test('sim.json is that object as text; an infinite ratio becomes null', () => {
    const parsed = JSON.parse(formatSimJson([result('geartide', { ratio: Infinity, lowerBoundNodeHours: 0 })])) as { policies: { ratio: unknown }[] };
    assert.equal(parsed.policies[0]!.ratio, null);
  });
});

/**
 * A strict little XML checker: every tag closed in order, attributes quoted and not repeated, no
 * stray `<` or `&` in text or attribute values. Returns the element names in document order.
 */
function checkWellFormedXml(text: string): string[] {
  const token = /<\?xml[^?]*\?>|<!--[\s\S]*?-->|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*"[^"]*")*)\s*(\/?)>|[^<]+/y;
  const stack: string[] = [];
  const elements: string[] = [];
  let roots = 0;
  while (token.lastIndex < text.length) {
    const at = token.lastIndex;
    const match = token.exec(text);
    if (match === null) throw new Error(`not XML at offset ${at}: ${JSON.stringify(text.slice(at, at + 40))}`);
    const [whole, closing, name, attributes, selfClosing] = match;
    if (name === undefined) {
      if (!whole.startsWith('<') && /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(whole)) throw new Error(`a bare & in text: ${whole}`);
      if (!whole.startsWith('<') && stack.length === 0 && whole.trim() !== '') throw new Error(`text outside the root element: ${whole}`);
      continue;
    }
    if (closing === '/') {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      continue;
    }
    const seen = new Set<string>();
    for (const attribute of attributes!.matchAll(/([\w:.-]+)\s*=\s*"([^"]*)"/g)) {
      if (seen.has(attribute[1]!)) throw new Error(`<${name}> repeats ${attribute[1]}`);
      seen.add(attribute[1]!);
      if (/[<]|&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(attribute[2]!)) throw new Error(`<${name} ${attribute[1]}> has an unescaped value`);
    }
    if (stack.length === 0) roots++;
    elements.push(name!);
    if (selfClosing !== '/') stack.push(name!);
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
  return elements;
}

describe('the SVG plot', () => {
  const svg = renderSimSvg([geartide, staticPeak, result('heat & co <1>', { nodeHours: 13, ratio: 1.3 })]);

  test('the checker itself catches what it must', () => {
    assert.throws(() => checkWellFormedXml('<svg><g></svg></g>'), /closes/);
    assert.throws(() => checkWellFormedXml('<svg><text>a & b</text></svg>'), /bare &/);
    assert.throws(() => checkWellFormedXml('<svg><rect x="1" x="2"/></svg>'), /repeats/);
    assert.throws(() => checkWellFormedXml('<svg><g>'), /unclosed/);
  });

  test('is well-formed XML with one svg root', () => {
    const elements = checkWellFormedXml(svg);
    assert.equal(elements[0], 'svg');
    assert.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });

  test('the title names the trace; the axes say gears, nodes and hours', () => {
    assert.match(svg, /<title>Simulated autoscaling on tiny.csv<\/title>/);
    assert.match(svg, />active gears</);
    assert.match(svg, />nodes</);
    assert.match(svg, />hours since the trace's start</);
    assert.match(svg, /lower bound 10.0 node-hours/);
  });

  test('the legends name demand, geartide\'s capacity and every policy with its node-hours', () => {
    assert.match(svg, />demand \(active gears\)</);
    assert.match(svg, />capacity of geartide</);
    for (const name of ['geartide', 'static-peak', 'heat &amp; co &lt;1&gt;']) assert.ok(svg.includes(`>${name}</text>`), `legend entry ${name}`);
    assert.match(svg, />11.0 node-h \(1.10 × bound\), 2 refused</);
    assert.match(svg, />14.0 node-h \(1.40 × bound\), 0 refused</);
  });

  test('one line per policy in the nodes panel, plus demand (area and line) and capacity', () => {
    const paths = svg.match(/<path /g) ?? [];
    assert.equal(paths.length, 3 + 3);
  });

  test('the hour ticks cover the trace: 0 to 2 h in quarter hours', () => {
    for (const label of ['0', '0.25', '1', '1.75', '2']) assert.ok(svg.includes(`text-anchor="middle">${label}</text>`), `tick ${label}`);
  });

  test('a series is a step line: the 3 → 7 → 1 nodes of geartide, held until the trace ends', () => {
    // geartide is drawn last (on top): its nodes path is the last <path>.
    const last = [...svg.matchAll(/<path d="([^"]+)"/g)].at(-1)![1]!;
    const commands = last.split(/ (?=[MHV])/);
    assert.equal(commands.filter((command) => command.startsWith('V')).length, 2, last);
    assert.equal(commands.filter((command) => command.startsWith('H')).length, 3, last);
  });
});

/**
 * What `geartide sim` and bench/efficiency show of a simulation: one trace, several policies.
 * Pure renderers from SimResult[] to text — a table, JSON, a timeline CSV and an SVG plot — so
 * the CLI only reads files and writes them, and the tests read the output as a person would.
 *
 * Every renderer takes results of one trace (the same trace, mapping and lower bound) and throws
 * otherwise: a table that mixed two traces would compare node-hours that cannot be compared.
 */
import { formatTable, type TableColumn } from '../cli/table.ts';
import type { SimResult, SimSettings } from './simulator.ts';

/** The trace the results share; throws when there are none or they come from different traces. */
function sharedTrace(results: readonly SimResult[]): SimResult {
  const first = results[0];
  if (first === undefined) throw new Error('sim report: no results to render');
  for (const result of results) {
    if (result.trace !== first.trace || result.lowerBoundNodeHours !== first.lowerBoundNodeHours) {
      throw new Error(`sim report: results of different traces or pools (${first.trace}, ${result.trace}) cannot share one report`);
    }
  }
  return first;
}

/** `17.4 h`, `45 min`, `30 s`: a duration a person reads at a glance. */
export function formatSimDuration(seconds: number): string {
  if (seconds === 0) return '0';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The line that says what was simulated: the trace, how it became apps, how long, the bound. */
export function simTraceLine(results: readonly SimResult[]): string {
  const trace = sharedTrace(results);
  return `trace ${trace.trace} (${trace.apps} apps over ${trace.durationHours.toFixed(1)} h): ${trace.mapping}; lower bound ${trace.lowerBoundNodeHours.toFixed(1)} node-hours`;
}

const TABLE_COLUMNS: readonly TableColumn<SimResult>[] = [
  { header: 'policy', value: (result) => result.policy },
  { header: 'node-hours', value: (result) => result.nodeHours.toFixed(1), align: 'right' },
  { header: 'x bound', value: (result) => (Number.isFinite(result.ratio) ? result.ratio.toFixed(2) : '-'), align: 'right' },
  { header: 'refused', value: (result) => result.placementsRefused, align: 'right' },
  { header: 'delayed', value: (result) => result.placementsDelayed, align: 'right' },
  { header: 'delay total', value: (result) => formatSimDuration(result.totalDelaySeconds), align: 'right' },
  { header: 'moves', value: (result) => result.moves, align: 'right' },
  { header: 'ups', value: (result) => result.scaleUps, align: 'right' },
  { header: 'downs', value: (result) => result.scaleDowns, align: 'right' },
  { header: 'cancelled drains', value: (result) => result.cancelledDrains, align: 'right' },
  { header: 'peak nodes', value: (result) => result.peakNodes, align: 'right' },
  { header: 'exhausted h', value: (result) => result.exhaustedHours.toFixed(1), align: 'right' },
];

/**
 * The trace line, the policy table, and what each policy is (the baselines say they are models).
 * No final newline.
 */
export function formatSimTable(results: readonly SimResult[]): string {
  const lines = [simTraceLine(results), '', formatTable(TABLE_COLUMNS, results), ''];
  const width = Math.max(...results.map((result) => result.policy.length));
  for (const result of results) lines.push(`${result.policy.padEnd(width)}  ${result.label}`);
  return lines.join('\n');
}

export interface SimReportJson {
  readonly trace: { readonly name: string; readonly mapping: string; readonly apps: number; readonly durationHours: number; readonly lowerBoundNodeHours: number };
  readonly settings: SimSettings | null;
  readonly notes: readonly string[];
  readonly policies: readonly (Omit<SimResult, 'timeline' | 'trace' | 'mapping' | 'apps' | 'durationHours' | 'lowerBoundNodeHours'> & {
    readonly timeline: { readonly points: number; readonly stepSeconds: number | null; readonly peakDemand: number; readonly peakCapacity: number; readonly peakNodes: number };
  })[];
}

/**
 * Everything a script needs: the trace, the settings, every policy's metrics and events; each
 * timeline is summarised (timeline.csv has it whole). `ratio` is null when the bound is 0.
 */
export function simReportJson(results: readonly SimResult[], extra: { settings?: SimSettings; notes?: readonly string[] } = {}): SimReportJson {
  const trace = sharedTrace(results);
  return {
    trace: { name: trace.trace, mapping: trace.mapping, apps: trace.apps, durationHours: trace.durationHours, lowerBoundNodeHours: trace.lowerBoundNodeHours },
    settings: extra.settings ?? null,
    notes: extra.notes ?? [],
    policies: results.map(({ timeline, trace: _trace, mapping: _mapping, apps: _apps, durationHours: _duration, lowerBoundNodeHours: _bound, ...metrics }) => ({
      ...metrics,
      timeline: {
        points: timeline.length,
        stepSeconds: timeline.length >= 2 ? timeline[1]!.time - timeline[0]!.time : null,
        peakDemand: Math.max(0, ...timeline.map((point) => point.demand)),
        peakCapacity: Math.max(0, ...timeline.map((point) => point.capacity)),
        peakNodes: Math.max(0, ...timeline.map((point) => point.nodes)),
      },
    })),
  };
}

/** sim.json's text: simReportJson pretty-printed, with a final newline. */
export function formatSimJson(results: readonly SimResult[], extra: { settings?: SimSettings; notes?: readonly string[] } = {}): string {
  return `${JSON.stringify(simReportJson(results, extra), null, 2)}\n`;
}

/**
 * One row per sampled instant: `time_s,demand`, then `<policy>_placed,<policy>_capacity,
 * <policy>_nodes` per policy. Policies sample at the same instants under the same settings; an
 * instant one of them lacks is left empty rather than guessed.
 */
export function formatTimelineCsv(results: readonly SimResult[]): string {
  sharedTrace(results);
  const times = new Set<number>();
  for (const result of results) for (const point of result.timeline) times.add(point.time);
  const byTime = results.map((result) => new Map(result.timeline.map((point) => [point.time, point])));
  const header = ['time_s', 'demand', ...results.flatMap((result) => [`${result.policy}_placed`, `${result.policy}_capacity`, `${result.policy}_nodes`])];
  const rows = [header.map(csvCell).join(',')];
  for (const time of [...times].sort((a, b) => a - b)) {
    const points = byTime.map((map) => map.get(time));
    const demand = points.find((point) => point !== undefined)!.demand;
    const cells: (string | number)[] = [round(time), demand];
    for (const point of points) cells.push(point?.placed ?? '', point?.capacity ?? '', point?.nodes ?? '');
    rows.push(cells.join(','));
  }
  return `${rows.join('\n')}\n`;
}

function csvCell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

// ---------------------------------------------------------------------------------------------
// The plot. Hand-written SVG: two panels sharing the time axis (hours since the trace's start).
//
//   ┌ title: the trace ──────────────────────────────────────────────┐
//   │ gears  ▒▒ demand (area)   ── capacity of geartide (step line)  │ legend
//   ├────────────────────────────────────────────────────────────────┤
//   │ nodes  ── one step line per policy                             │ legend with node-hours
//   └ hours since the trace's start ─────────────────────────────────┘
// ---------------------------------------------------------------------------------------------

const WIDTH = 1140;
const HEIGHT = 720;
const LEFT = 72;
const RIGHT = 320;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const GEARS_PANEL = { top: 92, height: 250 };
const NODES_PANEL = { top: 400, height: 250 };

/** Colours by policy name; unknown policies take the spare ones in order. */
const POLICY_COLOURS: Record<string, string> = { geartide: '#1f5fbf', 'static-peak': '#7a7a7a', heat: '#d9731a', 'cluster-autoscaler': '#2e9a3a' };
const SPARE_COLOURS = ['#9b3fb5', '#b8323a', '#1a9a9a', '#8c6d1f'];
const DEMAND_COLOUR = '#333333';

/** The SVG document (one trace; geartide's capacity, or the first policy's, in the gears panel). */
export function renderSimSvg(results: readonly SimResult[]): string {
  const trace = sharedTrace(results);
  const reference = results.find((result) => result.policy === 'geartide') ?? trace;
  const durationSeconds = Math.max(trace.durationHours * 3600, ...results.flatMap((result) => result.timeline.map((point) => point.time)), 1);
  const x = (seconds: number) => LEFT + (seconds / durationSeconds) * PLOT_WIDTH;
  const hourTicks = ticks(durationSeconds / 3600, hourStep(durationSeconds / 3600));

  const colours = new Map<string, string>();
  let spare = 0;
  for (const result of results) colours.set(result.policy, POLICY_COLOURS[result.policy] ?? SPARE_COLOURS[spare++ % SPARE_COLOURS.length]!);

  const parts: string[] = [];
  parts.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<title>${escapeXml(`Simulated autoscaling on ${trace.trace}`)}</title>`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  parts.push(`<text x="${LEFT}" y="30" font-size="18" font-weight="bold">${escapeXml(`Simulated autoscaling on ${trace.trace}`)}</text>`);
  parts.push(
    `<text x="${LEFT}" y="52" fill="#444444">${escapeXml(`${trace.apps} apps over ${trace.durationHours.toFixed(1)} h; lower bound ${trace.lowerBoundNodeHours.toFixed(1)} node-hours (as many nodes as the gears need at each instant)`)}</text>`,
  );

  // The gears panel: demand as a filled area, the reference policy's capacity as a step line.
  const gearsMax = niceCeiling(Math.max(1, ...reference.timeline.map((point) => Math.max(point.demand, point.capacity))));
  const gearsY = (value: number) => GEARS_PANEL.top + GEARS_PANEL.height - (value / gearsMax) * GEARS_PANEL.height;
  parts.push(...panelFrame(GEARS_PANEL, `gears: demand and ${reference.policy}'s capacity`, 'active gears', gearsMax, gearsY, hourTicks, x));
  const demand = reference.timeline.map((point) => ({ time: point.time, value: point.demand }));
  if (demand.length > 0) {
    const line = stepPath(demand, x, gearsY, durationSeconds);
    const base = gearsY(0).toFixed(1);
    parts.push(`<path d="${line} V ${base} H ${x(demand[0]!.time).toFixed(1)} Z" fill="#c9c9c9" fill-opacity="0.7" stroke="none"/>`);
    parts.push(`<path d="${line}" fill="none" stroke="${DEMAND_COLOUR}" stroke-width="1"/>`);
    const capacity = reference.timeline.map((point) => ({ time: point.time, value: point.capacity }));
    parts.push(`<path d="${stepPath(capacity, x, gearsY, durationSeconds)}" fill="none" stroke="${colours.get(reference.policy)}" stroke-width="1.6"/>`);
  }
  parts.push(
    ...legend(GEARS_PANEL.top, [
      { colour: '#c9c9c9', label: 'demand (active gears)', area: true },
      { colour: colours.get(reference.policy)!, label: `capacity of ${reference.policy}`, sub: 'max_active_gears × registered nodes' },
    ]),
  );

  // The nodes panel: one step line per policy, node-hours in the legend.
  const nodesMax = niceCeiling(Math.max(1, ...results.flatMap((result) => result.timeline.map((point) => point.nodes))));
  const nodesY = (value: number) => NODES_PANEL.top + NODES_PANEL.height - (value / nodesMax) * NODES_PANEL.height;
  parts.push(...panelFrame(NODES_PANEL, 'nodes paid for (provisioning, active and draining)', 'nodes', nodesMax, nodesY, hourTicks, x));
  // Drawn in reverse so the first policy (geartide) ends up on top.
  for (const result of [...results].reverse()) {
    const nodes = result.timeline.map((point) => ({ time: point.time, value: point.nodes }));
    if (nodes.length === 0) continue;
    parts.push(`<path d="${stepPath(nodes, x, nodesY, durationSeconds)}" fill="none" stroke="${colours.get(result.policy)}" stroke-width="${result === reference ? 1.8 : 1.3}" stroke-opacity="0.9"/>`);
  }
  parts.push(
    ...legend(
      NODES_PANEL.top,
      results.map((result) => ({
        colour: colours.get(result.policy)!,
        label: result.policy,
        sub: `${result.nodeHours.toFixed(1)} node-h${Number.isFinite(result.ratio) ? ` (${result.ratio.toFixed(2)} × bound)` : ''}, ${result.placementsRefused} refused`,
      })),
    ),
  );
  parts.push(`<text x="${LEFT + PLOT_WIDTH / 2}" y="${NODES_PANEL.top + NODES_PANEL.height + 38}" text-anchor="middle">hours since the trace's start</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

interface Panel {
  readonly top: number;
  readonly height: number;
}

function panelFrame(panel: Panel, title: string, yLabel: string, yMax: number, y: (value: number) => number, hourTicks: readonly number[], x: (seconds: number) => number): string[] {
  const bottom = panel.top + panel.height;
  const parts: string[] = [];
  parts.push(`<text x="${LEFT}" y="${panel.top - 10}" font-size="13" font-weight="bold">${escapeXml(title)}</text>`);
  parts.push(`<rect x="${LEFT}" y="${panel.top}" width="${PLOT_WIDTH}" height="${panel.height}" fill="#fbfbfb" stroke="#999999"/>`);
  for (const value of ticks(yMax, niceStep(yMax / 5))) {
    const at = y(value).toFixed(1);
    parts.push(`<line x1="${LEFT}" y1="${at}" x2="${LEFT + PLOT_WIDTH}" y2="${at}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${at}" text-anchor="end" dominant-baseline="middle">${formatTick(value)}</text>`);
  }
  for (const hour of hourTicks) {
    const at = x(hour * 3600).toFixed(1);
    parts.push(`<line x1="${at}" y1="${panel.top}" x2="${at}" y2="${bottom}" stroke="#eeeeee"/>`);
    parts.push(`<line x1="${at}" y1="${bottom}" x2="${at}" y2="${bottom + 4}" stroke="#999999"/>`);
    parts.push(`<text x="${at}" y="${bottom + 17}" text-anchor="middle">${formatTick(hour)}</text>`);
  }
  const middle = panel.top + panel.height / 2;
  parts.push(`<text x="${LEFT - 50}" y="${middle}" text-anchor="middle" transform="rotate(-90 ${LEFT - 50} ${middle})">${escapeXml(yLabel)}</text>`);
  return parts;
}

function legend(top: number, entries: readonly { colour: string; label: string; sub?: string; area?: boolean }[]): string[] {
  const left = LEFT + PLOT_WIDTH + 18;
  const parts: string[] = [];
  entries.forEach((entry, index) => {
    const y = top + 12 + index * 38;
    parts.push(
      entry.area
        ? `<rect x="${left}" y="${y - 6}" width="24" height="12" fill="${entry.colour}" stroke="${DEMAND_COLOUR}" stroke-width="1"/>`
        : `<line x1="${left}" y1="${y}" x2="${left + 24}" y2="${y}" stroke="${entry.colour}" stroke-width="3"/>`,
    );
    parts.push(`<text x="${left + 32}" y="${y}" dominant-baseline="middle">${escapeXml(entry.label)}</text>`);
    if (entry.sub !== undefined) parts.push(`<text x="${left + 32}" y="${y + 16}" dominant-baseline="middle" font-size="11" fill="#555555">${escapeXml(entry.sub)}</text>`);
  });
  return parts;
}

/** A value holds until the next sample; the last one holds to the end of the trace. */
function stepPath(points: readonly { time: number; value: number }[], x: (seconds: number) => number, y: (value: number) => number, end: number): string {
  const commands = [`M ${x(points[0]!.time).toFixed(1)} ${y(points[0]!.value).toFixed(1)}`];
  for (let index = 1; index < points.length; index++) {
    commands.push(`H ${x(points[index]!.time).toFixed(1)}`);
    if (points[index]!.value !== points[index - 1]!.value) commands.push(`V ${y(points[index]!.value).toFixed(1)}`);
  }
  commands.push(`H ${x(end).toFixed(1)}`);
  return commands.join(' ');
}

/** 1, 2 or 5 × a power of ten, at least `rough`. */
function niceStep(rough: number): number {
  if (!(rough > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= rough) return Math.max(1, factor * power);
  return 10 * power;
}

/** The axis top: a multiple of a nice step above `max`, with a little room so a peak is not drawn on the frame. */
function niceCeiling(max: number): number {
  const step = niceStep(max / 5);
  return Math.ceil((max * 1.04) / step) * step;
}

/** Hours read best in steps of whole hours, a quarter or half a day, days, weeks. */
function hourStep(hours: number): number {
  for (const step of [0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 168, 336]) if (hours / step <= 12) return step;
  return niceStep(hours / 12);
}

function ticks(max: number, step: number): number[] {
  const values: number[] = [];
  for (let value = 0; value <= max + 1e-9; value += step) values.push(Math.round(value * 1000) / 1000);
  return values;
}

function formatTick(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : String(value);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

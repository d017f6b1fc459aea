/**
 * Workload traces for the simulator, and the clairvoyant lower bound on node-hours.
 *
 * A trace is a list of apps, each with an arrival, a departure and a gear count: every gear of an
 * app is active from its arrival to its departure. Two formats:
 *
 *   alibaba-batch  Alibaba cluster-trace-v2017 `batch_task`: one app per task, alive from
 *                  task_create_time to task_end_time (tasks that end before they start are
 *                  skipped); gears = min(maxGearsPerApp, ceil(instances / instancesPerGear))
 *                  (defaults 50 and 20: ~3,200 gears at the trace's peak).
 *   usage-series   a utilisation curve (a CSV whose first column is a percentage per row, one row
 *                  per `stepSeconds`, as Alibaba 2018's machine_usage at 300 s): active gears(t) =
 *                  round(peakGears × u(t) / max u); a rise is that many new one-gear apps, a fall
 *                  ends that many of the running ones, chosen at random (seeded) — apps end in no
 *                  particular order, which is what leaves nodes half-empty.
 */
import { InputError } from '../core/errors.ts';
import { seededRandom } from '../core/seeded-random.ts';

export interface TraceApp {
  readonly id: string;
  /** Seconds from the trace's start. */
  readonly arrival: number;
  readonly departure: number;
  readonly gears: number;
}

export interface Trace {
  readonly name: string;
  readonly apps: readonly TraceApp[];
  /** First arrival and last departure, seconds. */
  readonly start: number;
  readonly end: number;
  /** How the source was mapped to apps and gears, in a sentence (printed with the results). */
  readonly mapping: string;
}

export type TraceFormat = 'alibaba-batch' | 'usage-series';
export const TRACE_FORMATS: readonly TraceFormat[] = ['alibaba-batch', 'usage-series'];

export interface AlibabaBatchOptions {
  readonly instancesPerGear?: number;
  readonly maxGearsPerApp?: number;
}

export function parseAlibabaBatch(text: string, name: string, options: AlibabaBatchOptions = {}): Trace {
  const perGear = options.instancesPerGear ?? 50;
  const cap = options.maxGearsPerApp ?? 20;
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split(',').map((cell) => cell.trim()) ?? [];
  const column = (wanted: string) => {
    const index = header.indexOf(wanted);
    if (index < 0) throw new InputError(`${name}: not an Alibaba batch_task CSV: no column '${wanted}' in its header`, 'trace');
    return index;
  };
  const createAt = column('task_create_time');
  const endAt = column('task_end_time');
  const instancesAt = column('number_of_instances');
  const apps: TraceApp[] = [];
  let skipped = 0;
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!;
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const arrival = Number(cells[createAt]);
    const departure = Number(cells[endAt]);
    const instances = Number(cells[instancesAt]);
    if (!Number.isFinite(arrival) || !Number.isFinite(departure) || !Number.isFinite(instances)) {
      throw new InputError(`${name}:${index + 1}: expected numbers in task_create_time, task_end_time and number_of_instances, got '${line}'`, 'trace');
    }
    if (departure <= arrival || instances <= 0) {
      skipped++;
      continue;
    }
    apps.push({ id: `t${index}`, arrival, departure, gears: Math.min(cap, Math.max(1, Math.ceil(instances / perGear))) });
  }
  if (apps.length === 0) throw new InputError(`${name}: no task with an end after its start`, 'trace');
  return finish(name, apps, `alibaba-batch: one app per task (${apps.length} tasks; ${skipped} ending before they start skipped), gears = min(${cap}, ceil(instances / ${perGear}))`);
}

export interface UsageSeriesOptions {
  readonly peakGears?: number;
  readonly stepSeconds?: number;
  readonly seed?: number;
}

export function parseUsageSeries(text: string, name: string, options: UsageSeriesOptions = {}): Trace {
  const peakGears = options.peakGears ?? 2000;
  const step = options.stepSeconds ?? 300;
  const values: number[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '') continue;
    const first = Number(line.split(',')[0]);
    if (!Number.isFinite(first)) {
      if (index === 0) continue; // a header
      throw new InputError(`${name}:${index + 1}: expected a percentage in the first column, got '${line}'`, 'trace');
    }
    values.push(first);
  }
  const max = Math.max(...values);
  if (values.length === 0 || !(max > 0)) throw new InputError(`${name}: no positive value in the first column`, 'trace');

  const random = seededRandom(options.seed ?? 2018);
  const running: { id: string; arrival: number }[] = [];
  const apps: TraceApp[] = [];
  let next = 0;
  for (let row = 0; row < values.length; row++) {
    const time = row * step;
    const target = Math.round((peakGears * values[row]!) / max);
    while (running.length < target) running.push({ id: `u${next++}`, arrival: time });
    while (running.length > target) {
      const index = Math.floor(random() * running.length);
      const [ended] = running.splice(index, 1);
      apps.push({ id: ended!.id, arrival: ended!.arrival, departure: time, gears: 1 });
    }
  }
  const end = values.length * step;
  for (const app of running) apps.push({ id: app.id, arrival: app.arrival, departure: end, gears: 1 });
  return finish(name, apps, `usage-series: ${values.length} rows of ${step} s; active gears(t) = round(${peakGears} × u(t) / ${max.toFixed(2)}), as one-gear apps that start on a rise and end, chosen at random, on a fall`);
}

function finish(name: string, apps: TraceApp[], mapping: string): Trace {
  apps.sort((a, b) => a.arrival - b.arrival || a.id.localeCompare(b.id));
  let start = Infinity;
  let end = -Infinity;
  for (const app of apps) {
    start = Math.min(start, app.arrival);
    end = Math.max(end, app.departure);
  }
  return { name, apps, start, end, mapping };
}

/** Active gears over time: sorted change points (time, gears from then on). */
export function demandCurve(trace: Pick<Trace, 'apps'>): { time: number; gears: number }[] {
  const changes = new Map<number, number>();
  for (const app of trace.apps) {
    changes.set(app.arrival, (changes.get(app.arrival) ?? 0) + app.gears);
    changes.set(app.departure, (changes.get(app.departure) ?? 0) - app.gears);
  }
  const points: { time: number; gears: number }[] = [];
  let gears = 0;
  for (const time of [...changes.keys()].sort((a, b) => a - b)) {
    gears += changes.get(time)!;
    points.push({ time, gears });
  }
  return points;
}

/**
 * The clairvoyant lower bound on node-hours: Σ ceil(active gears(t) / maxActiveGears) · Δt — as
 * many nodes as the active gears need at each instant, no boot time, perfect packing.
 */
export function lowerBoundNodeHours(trace: Pick<Trace, 'apps'>, maxActiveGears: number): number {
  if (!(maxActiveGears > 0)) throw new InputError(`maxActiveGears must be positive, got ${maxActiveGears}`, 'maxActiveGears');
  const points = demandCurve(trace);
  let nodeSeconds = 0;
  for (let index = 0; index + 1 < points.length; index++) {
    const span = points[index + 1]!.time - points[index]!.time;
    nodeSeconds += Math.ceil(points[index]!.gears / maxActiveGears) * span;
  }
  return nodeSeconds / 3600;
}

/** Most active gears at any instant. */
export function peakDemand(trace: Pick<Trace, 'apps'>): number {
  return Math.max(0, ...demandCurve(trace).map((point) => point.gears));
}

/**
 * An indexed binary heap of node hosts ordered by load, the index behind `placeGear`. The best
 * node for the next gear is on top; which one is best is the placement order's comparator:
 *
 * `compareLoad` (least loaded first, OpenShift v2's rule, the default):
 *   1. load = activeGears / maxActiveGears, lower first — compared by cross-multiplication, so
 *      two equal ratios (1/10 and 10/100) tie exactly instead of by floating-point luck;
 *   2. fewer active gears;
 *   3. name, by code unit (never locale-dependent).
 *
 * `comparePacking` (most allocated first, for autoscaled pools: see placement.ts):
 *   1. load, higher first; 2. more active gears; 3. name, by code unit.
 *
 * "Indexed" means each entry remembers where it sits, so a changed key is re-sifted and an entry
 * removed in O(log n) without a search. One entry may sit in several heaps at once (its profile's
 * and its district's); each heap owns one slot of `heapPositions`.
 */
import { GeartideError } from './errors.ts';

export interface LoadIndexEntry {
  readonly name: string;
  readonly maxActiveGears: number;
  /** Mutable: the placement snapshot bumps it and then calls `NodeLoadIndex.increased`. */
  activeGears: number;
  /** Position in each heap the entry belongs to, by heap slot; -1 when not in that heap. */
  readonly heapPositions: number[];
}

/** Negative when `a` is the better (less loaded) node; 0 only for the same name and load. */
export function compareLoad(a: LoadIndexEntry, b: LoadIndexEntry): number {
  // Exact for any gear counts the platform can hold (products stay far below 2^53).
  const byLoad = a.activeGears * b.maxActiveGears - b.activeGears * a.maxActiveGears;
  if (byLoad !== 0) return byLoad;
  if (a.activeGears !== b.activeGears) return a.activeGears - b.activeGears;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Negative when `a` is the better node to pack onto (the fuller one); 0 only for the same name
 * and load. Ties fall to the name, in the same direction as `compareLoad`, so results stay stable.
 */
export function comparePacking(a: LoadIndexEntry, b: LoadIndexEntry): number {
  const byLoad = b.activeGears * a.maxActiveGears - a.activeGears * b.maxActiveGears;
  if (byLoad !== 0) return byLoad;
  if (a.activeGears !== b.activeGears) return b.activeGears - a.activeGears;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** An order of nodes for placement: negative when `a` should take the next gear before `b`. */
export type LoadComparator = (a: LoadIndexEntry, b: LoadIndexEntry) => number;

/** What a visitor of `visitInOrder` answers: stop the walk, or go on to the next entry. */
export type VisitDecision = 'stop' | 'continue';

/** How a walk ended: a visitor stopped it, every entry was visited, or the step limit was hit. */
export type WalkOutcome = 'stopped' | 'exhausted' | 'limited';

export class NodeLoadIndex<T extends LoadIndexEntry> {
  private readonly heap: T[] = [];

  /**
   * @param slot which element of `heapPositions` this heap owns.
   * @param compare the placement order: the entry it ranks first is on top.
   */
  constructor(
    private readonly slot: number,
    readonly compare: LoadComparator = compareLoad,
  ) {}

  /** Fills an empty heap from unordered entries in O(n) (bottom-up heapify). */
  heapify(entries: readonly T[]): void {
    const heap = this.heap;
    if (heap.length > 0) throw new GeartideError('internal', 'internal', 'heapify needs an empty load index');
    for (const entry of entries) {
      if ((entry.heapPositions[this.slot] ?? -1) !== -1) {
        throw new GeartideError('internal', 'internal', `node '${entry.name}' is already in load index slot ${this.slot}`);
      }
      entry.heapPositions[this.slot] = heap.length;
      heap.push(entry);
    }
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  get size(): number {
    return this.heap.length;
  }

  /** The best entry by the heap's order, or undefined when empty. */
  peek(): T | undefined {
    return this.heap[0];
  }

  has(entry: T): boolean {
    const position = entry.heapPositions[this.slot] ?? -1;
    return position >= 0 && this.heap[position] === entry;
  }

  insert(entry: T): void {
    if (this.has(entry)) return;
    entry.heapPositions[this.slot] = this.heap.length;
    this.heap.push(entry);
    this.siftUp(this.heap.length - 1);
  }

  remove(entry: T): void {
    if (!this.has(entry)) return;
    const position = entry.heapPositions[this.slot]!;
    const last = this.heap.pop()!;
    entry.heapPositions[this.slot] = -1;
    if (last === entry) return;
    // The last entry fills the hole; it may belong above or below it.
    this.heap[position] = last;
    last.heapPositions[this.slot] = position;
    this.siftDown(position);
    this.siftUp(last.heapPositions[this.slot]!);
  }

  /**
   * Call after the entry's load went up (a gear was placed on it): it sinks in a least-loaded
   * heap and rises in a packing one; sifting both ways serves either (one of them is a no-op).
   */
  increased(entry: T): void {
    if (!this.has(entry)) return;
    this.siftDown(entry.heapPositions[this.slot]!);
    this.siftUp(entry.heapPositions[this.slot]!);
  }

  /** Empties the heap; its entries' positions in this slot become -1. */
  clear(): void {
    for (const entry of this.heap) entry.heapPositions[this.slot] = -1;
    this.heap.length = 0;
  }

  /** Every entry, in heap (not sorted) order: for scans that look at all of them anyway. */
  entries(): readonly T[] {
    return this.heap;
  }

  /**
   * Visits entries in the heap's order (best first), without touching the heap: a small auxiliary
   * priority queue holds the frontier (children of visited entries), so visiting the k least
   * loaded costs O(k log k) whatever the heap's size. At most `maxSteps` entries are visited.
   */
  visitInOrder(maxSteps: number, visit: (entry: T) => VisitDecision): WalkOutcome {
    const heap = this.heap;
    if (heap.length === 0) return 'exhausted';
    // The frontier holds heap positions, ordered by the entries at those positions.
    const frontier: number[] = [0];
    let steps = 0;
    while (frontier.length > 0) {
      if (steps === maxSteps) return 'limited';
      steps++;
      const position = popFrontier(heap, frontier, this.compare);
      if (visit(heap[position]!) === 'stop') return 'stopped';
      const left = 2 * position + 1;
      if (left < heap.length) pushFrontier(heap, frontier, left, this.compare);
      if (left + 1 < heap.length) pushFrontier(heap, frontier, left + 1, this.compare);
    }
    return 'exhausted';
  }

  private siftUp(position: number): void {
    const heap = this.heap;
    const entry = heap[position]!;
    while (position > 0) {
      const parentPosition = (position - 1) >> 1;
      const parent = heap[parentPosition]!;
      if (this.compare(entry, parent) >= 0) break;
      heap[position] = parent;
      parent.heapPositions[this.slot] = position;
      position = parentPosition;
    }
    heap[position] = entry;
    entry.heapPositions[this.slot] = position;
  }

  private siftDown(position: number): void {
    const heap = this.heap;
    const size = heap.length;
    const entry = heap[position]!;
    for (;;) {
      const left = 2 * position + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && this.compare(heap[right]!, heap[left]!) < 0) child = right;
      const childEntry = heap[child]!;
      if (this.compare(childEntry, entry) >= 0) break;
      heap[position] = childEntry;
      childEntry.heapPositions[this.slot] = position;
      position = child;
    }
    heap[position] = entry;
    entry.heapPositions[this.slot] = position;
  }
}

// The frontier of `visitInOrder`: a plain binary min-heap of positions into `heap`.

function pushFrontier<T extends LoadIndexEntry>(heap: readonly T[], frontier: number[], position: number, compare: LoadComparator): void {
  let i = frontier.length;
  frontier.push(position);
  const entry = heap[position]!;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const parentPosition = frontier[parent]!;
    if (compare(entry, heap[parentPosition]!) >= 0) break;
    frontier[i] = parentPosition;
    i = parent;
  }
  frontier[i] = position;
}

function popFrontier<T extends LoadIndexEntry>(heap: readonly T[], frontier: number[], compare: LoadComparator): number {
  const top = frontier[0]!;
  const last = frontier.pop()!;
  const size = frontier.length;
  if (size === 0) return top;
  const entry = heap[last]!;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= size) break;
    let child = left;
    if (left + 1 < size && compare(heap[frontier[left + 1]!]!, heap[frontier[left]!]!) < 0) child = left + 1;
    if (compare(heap[frontier[child]!]!, entry) >= 0) break;
    frontier[i] = frontier[child]!;
    i = child;
  }
  frontier[i] = last;
  return top;
}

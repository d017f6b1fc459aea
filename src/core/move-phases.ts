/**
 * The phases of a gear move, in order (docs/moves.md has the drawing and what each one means).
 * Each is written to the journal before the broker carries it out.
 */
export const MOVE_PHASES = ['planned', 'copying', 'target-started', 'routed-both', 'routed-target', 'source-released', 'done', 'rolling-back', 'rolled-back'] as const;

export type MovePhase = (typeof MOVE_PHASES)[number];

/** Phases in which the target agent is making or holds its copy: its desired list shows the gear. */
export const TARGET_VISIBLE_PHASES: readonly MovePhase[] = ['copying', 'target-started', 'routed-both', 'routed-target'];

/**
 * From `routed-target` on, the source no longer receives requests and the move only rolls
 * forward: rolling back now could leave a gear with no copy serving.
 */
export function isPastCommitPoint(phase: MovePhase): boolean {
  return phase === 'routed-target' || phase === 'source-released' || phase === 'done';
}

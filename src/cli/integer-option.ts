import { InvalidArgumentError } from 'commander';

/**
 * A commander argument parser for whole numbers of at least `minimum`: `--gears 2`,
 * `--first-uid 1000`. Rejects `2.5`, `1e3`, `0x10` and empty strings instead of letting
 * Number() accept them, and reports through commander (exit 2, option named).
 */
export function integerOption(minimum: number): (text: string) => number {
  return (text: string): number => {
    if (!/^-?\d+$/.test(text.trim())) throw new InvalidArgumentError(`expected a whole number`);
    const value = Number(text);
    if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`number out of range`);
    if (value < minimum) throw new InvalidArgumentError(`must be at least ${minimum}`);
    return value;
  };
}

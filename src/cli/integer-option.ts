import { InvalidArgumentError } from 'commander';

/**
 * A commander argument parser for whole numbers of at least `minimum` (and at most `maximum`): `--gears 2`,
 * `--first-uid 1000`. Rejects `2.5`, `1e3`, `0x10` and empty strings instead of letting
 * Number() accept them, and reports through commander (exit 2, option named).
 */
export function integerOption(minimum: number, maximum: number = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text: string): number => {
    if (!/^-?\d+$/.test(text.trim())) throw new InvalidArgumentError(`expected a whole number`);
    const value = Number(text);
    if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`number out of range`);
    if (value < minimum) throw new InvalidArgumentError(maximum === Number.MAX_SAFE_INTEGER ? `must be at least ${minimum}` : `must be within ${minimum}..${maximum}`);
    if (value > maximum) throw new InvalidArgumentError(`must be within ${minimum}..${maximum}`);
    return value;
  };
}

import { InvalidArgumentError } from 'commander';

/**
 * Parse `--scale MIN:MAX` (e.g. `1:3`): whole numbers with 1 <= MIN <= MAX. Throws commander's
 * InvalidArgumentError so a bad value is reported as a usage error (exit 2) naming the option.
 */
export function parseScaleRange(text: string): { min: number; max: number } {
  const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  if (match === null) throw new InvalidArgumentError(`expected MIN:MAX, e.g. 1:3`);
  const min = Number(match[1]);
  const max = Number(match[2]);
  if (min < 1) throw new InvalidArgumentError(`MIN must be at least 1`);
  if (max < min) throw new InvalidArgumentError(`MAX (${max}) must not be below MIN (${min})`);
  return { min, max };
}

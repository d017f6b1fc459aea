import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { integerOption } from '../../src/cli/integer-option.ts';
import { parseScaleRange } from '../../src/cli/scale-range.ts';

describe('parseScaleRange (--scale MIN:MAX)', () => {
  const good: Record<string, { input: string; want: { min: number; max: number } }> = {
    'a range': { input: '1:3', want: { min: 1, max: 3 } },
    'a fixed size': { input: '2:2', want: { min: 2, max: 2 } },
    'spaces around the numbers': { input: ' 1 : 10 ', want: { min: 1, max: 10 } },
  };
  for (const [name, { input, want }] of Object.entries(good)) {
    test(`accepts ${name}`, () => assert.deepEqual(parseScaleRange(input), want));
  }

  const bad: Record<string, { input: string; want: RegExp }> = {
    'a single number': { input: '3', want: /expected MIN:MAX/ },
    'a missing max': { input: '1:', want: /expected MIN:MAX/ },
    'a fraction': { input: '1.5:3', want: /expected MIN:MAX/ },
    'a negative max (no "unlimited" in this API)': { input: '1:-1', want: /expected MIN:MAX/ },
    'a zero min': { input: '0:3', want: /MIN must be at least 1/ },
    'max below min': { input: '4:2', want: /MAX \(2\) must not be below MIN \(4\)/ },
    'words': { input: 'one:two', want: /expected MIN:MAX/ },
  };
  for (const [name, { input, want }] of Object.entries(bad)) {
    test(`rejects ${name} as a usage error`, () => {
      assert.throws(() => parseScaleRange(input), (error: unknown) => error instanceof InvalidArgumentError && want.test(error.message));
    });
  }
});

describe('integerOption', () => {
  const atLeastOne = integerOption(1);
  test('parses whole numbers', () => assert.equal(atLeastOne('42'), 42));
  for (const input of ['2.5', '1e3', '0x10', '', 'ten']) {
    test(`rejects ${JSON.stringify(input)}`, () => assert.throws(() => atLeastOne(input), /expected a whole number/));
  }
  test('rejects values below the minimum', () => assert.throws(() => atLeastOne('0'), /must be at least 1/));
  test('zero allowed where the minimum is 0', () => assert.equal(integerOption(0)('0'), 0));
  test('a maximum is inclusive and named with the range when crossed (drain --parallel 1..32)', () => {
    const parallel = integerOption(1, 32);
    assert.equal(parallel('32'), 32);
    assert.throws(() => parallel('33'), /must be within 1\.\.32/);
    assert.throws(() => parallel('0'), /must be within 1\.\.32/);
  });
});

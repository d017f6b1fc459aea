import assert from 'node:assert/strict';
import { test } from 'node:test';

import { nextLiveEndpoint } from '../../src/router/endpoint-selection.ts';

const E = ['e0', 'e1', 'e2'];

const cases: Record<string, { endpoints: string[]; cursor: number; down: string[]; exclude?: string; want: number }> = {
  'all live: the cursor position': { endpoints: E, cursor: 1, down: [], want: 1 },
  'cursor past the end wraps': { endpoints: E, cursor: 4, down: [], want: 1 },
  'a down endpoint is skipped': { endpoints: E, cursor: 1, down: ['e1'], want: 2 },
  'skipping wraps around': { endpoints: E, cursor: 2, down: ['e2'], want: 0 },
  'the excluded endpoint (failed attempt) is skipped': { endpoints: E, cursor: 0, down: [], exclude: 'e0', want: 1 },
  'down and excluded together leave the last one': { endpoints: E, cursor: 0, down: ['e1'], exclude: 'e0', want: 2 },
  'all down: none': { endpoints: E, cursor: 0, down: ['e0', 'e1', 'e2'], want: -1 },
  'only the excluded one is live: none': { endpoints: E, cursor: 0, down: ['e1', 'e2'], exclude: 'e0', want: -1 },
  'no endpoints: none': { endpoints: [], cursor: 0, down: [], want: -1 },
};

for (const [name, { endpoints, cursor, down, exclude, want }] of Object.entries(cases)) {
  test(`next live endpoint: ${name}`, () => {
    assert.equal(nextLiveEndpoint(endpoints, cursor, (endpoint) => down.includes(endpoint), exclude), want);
  });
}

test('round robin: storing index + 1 as the cursor visits each live endpoint in turn', () => {
  let cursor = 0;
  const seen: string[] = [];
  for (let request = 0; request < 6; request++) {
    const index = nextLiveEndpoint(E, cursor, (endpoint) => endpoint === 'e1');
    seen.push(E[index]!);
    cursor = index + 1;
  }
  assert.deepEqual(seen, ['e0', 'e2', 'e0', 'e2', 'e0', 'e2']);
});

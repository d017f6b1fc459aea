import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatFields, formatTable } from '../../src/cli/table.ts';

interface Row {
  name: string;
  count: number | null;
}

const columns = [
  { header: 'name', value: (row: Row) => row.name },
  { header: 'count', value: (row: Row) => row.count, align: 'right' as const },
];

describe('formatTable', () => {
  const cases: Record<string, { rows: Row[]; cols?: typeof columns; want: string }> = {
    'headers upper-cased, columns padded to the widest cell, numbers right-aligned': {
      rows: [
        { name: 'a', count: 5 },
        { name: 'longer-name', count: 1234 },
      ],
      want: ['NAME         COUNT', 'a                5', 'longer-name   1234'].join('\n'),
    },
    'no rows: the header line alone': {
      rows: [],
      want: 'NAME  COUNT',
    },
    'null cells print as a dash': {
      rows: [{ name: 'x', count: null }],
      want: ['NAME  COUNT', 'x         -'].join('\n'),
    },
    'a newline inside a cell does not break the grid': {
      rows: [{ name: 'two\nlines', count: 1 }],
      want: ['NAME       COUNT', 'two lines      1'].join('\n'),
    },
    'the last left-aligned column leaves no trailing spaces': {
      rows: [
        { name: 'a', count: 1 },
        { name: 'bbbbbbbb', count: 2 },
      ],
      cols: [columns[1]!, columns[0]!],
      want: ['COUNT  NAME', '    1  a', '    2  bbbbbbbb'].join('\n'),
    },
  };
  for (const [name, { rows, cols, want }] of Object.entries(cases)) {
    test(name, () => {
      const got = formatTable(cols ?? columns, rows);
      assert.equal(got, want);
      for (const line of got.split('\n')) assert.equal(line, line.trimEnd());
    });
  }
});

describe('formatFields', () => {
  test('labels padded so values line up, null as a dash', () => {
    assert.equal(formatFields([['url', 'http://x'], ['gear profile', null]]), ['url:           http://x', 'gear profile:  -'].join('\n'));
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CommanderError, InvalidArgumentError } from 'commander';
import { exitCodeForError, renderError } from '../../src/cli/render-error.ts';
import { UsageError } from '../../src/cli/usage-error.ts';
import { ConfigError, GeartideError, NotFoundError } from '../../src/core/errors.ts';

/** An input error whose field is the secret itself (a broker echoing the header back). */
class EchoingError extends GeartideError {
  constructor(message: string, field: string) {
    super('invalid_input', 'input', message, { field, status: 400 });
  }
}

describe('renderError', () => {
  const cases: Record<string, { error: unknown; secrets?: string[]; want: string }> = {
    'an API error with a field': {
      error: new GeartideError('invalid_name', 'input', 'must be lower-case letters and digits', { field: 'name', status: 400 }),
      want: 'error: must be lower-case letters and digits (field: name)',
    },
    'a field the broker named is shown even when the message uses the word': {
      error: new GeartideError('out_of_range', 'input', 'gears must be within 1..5', { field: 'gears', status: 400 }),
      want: 'error: gears must be within 1..5 (field: gears)',
    },
    'an API error without a field': {
      error: new NotFoundError('app', 'demo/hello'),
      want: "error: app 'demo/hello' not found",
    },
    'a local error whose message names its key does not repeat it': {
      error: new ConfigError('GEARTIDE_URL is not a URL', 'GEARTIDE_URL'),
      want: 'error: GEARTIDE_URL is not a URL',
    },
    'commander messages lose their own "error:" prefix': {
      error: new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'name'"),
      want: "error: missing required argument 'name'",
    },
    'a multi-line message becomes one line': {
      error: new Error('first line\n  second line\r\nthird'),
      want: 'error: first line second line third',
    },
    'the token is masked wherever it appears': {
      error: new GeartideError('unauthenticated', 'unauthenticated', 'token gt_abcdef123456 is unknown; gt_abcdef123456 was revoked'),
      secrets: ['gt_abcdef123456'],
      want: 'error: token *** is unknown; *** was revoked',
    },
    'the token is masked inside a field too': {
      error: new EchoingError('bad', 'gt_abcdef123456'),
      secrets: ['gt_abcdef123456'],
      want: 'error: bad (field: ***)',
    },
    'a thrown non-Error value': { error: 'boom', want: 'error: boom' },
  };
  for (const [name, { error, secrets, want }] of Object.entries(cases)) {
    test(name, () => {
      const line = renderError(error, secrets);
      assert.equal(line, want);
      assert.ok(!line.includes('\n'));
      for (const secret of secrets ?? []) assert.ok(!line.includes(secret));
    });
  }
});

describe('exitCodeForError', () => {
  test('usage errors exit 2', () => {
    assert.equal(exitCodeForError(new UsageError('choose -n')), 2);
    assert.equal(exitCodeForError(new InvalidArgumentError('expected MIN:MAX')), 2);
    assert.equal(exitCodeForError(new CommanderError(1, 'commander.unknownCommand', 'unknown command')), 2);
  });
  test('broker refusals and failures exit 1', () => {
    assert.equal(exitCodeForError(new GeartideError('conflict', 'conflict', 'exists')), 1);
    assert.equal(exitCodeForError(new GeartideError('invalid_name', 'input', 'bad name')), 1);
    assert.equal(exitCodeForError(new Error('bug')), 1);
  });
  test('help and version exit 0', () => {
    assert.equal(exitCodeForError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')), 0);
  });
});

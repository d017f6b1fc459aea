import { CommanderError } from 'commander';
import { isGeartideError } from '../core/errors.ts';
import { UsageError } from './usage-error.ts';

/**
 * The one line the CLI prints to stderr when a command fails: `error: <message>`, plus
 * ` (field: x)` when the broker (or the config) named the input at fault. Always a single line,
 * so scripts can capture it, and every secret in `secrets` (the configured token) is masked,
 * whatever message a broker or a library chose to echo back.
 */
export function renderError(error: unknown, secrets: readonly (string | undefined)[] = []): string {
  let message: string;
  if (error instanceof CommanderError) {
    // commander already prefixes its messages with "error: ".
    message = error.message.replace(/^error:\s*/i, '');
  } else if (error instanceof Error) {
    message = error.message || error.name;
  } else {
    message = String(error);
  }
  const field = isGeartideError(error) ? error.field : undefined;
  // A field the broker named is always shown: the message may use the word in passing ("gears
  // must be within 1..5") without saying it is the culprit. Local errors (config, usage) often
  // name their key in the message already; repeating it would only add noise.
  const fromBroker = isGeartideError(error) && error.context.status !== undefined;
  if (field !== undefined && field !== '' && (fromBroker || !message.includes(field))) message += ` (field: ${field})`;

  let line = `error: ${message.replace(/\s*[\r\n]+\s*/g, ' ').trim()}`;
  for (const secret of secrets) {
    // Very short strings would mask ordinary words; real tokens are long.
    if (secret !== undefined && secret.length >= 6) line = line.split(secret).join('***');
  }
  return line;
}

/** 2 for a wrong command line, 1 for everything else (the broker refused, the broker is down…). */
export function exitCodeForError(error: unknown): number {
  if (error instanceof UsageError) return 2;
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  return 1;
}

import { InputError } from '../core/errors.ts';

/**
 * The command line itself is wrong (a malformed option, a missing -n where it cannot be guessed).
 * Detected by the CLI before any request; exits 2 like commander's own usage errors, so scripts
 * can tell "you called me wrong" from "the broker said no" (exit 1).
 */
export class UsageError extends InputError {
  constructor(message: string, field?: string) {
    super(message, field, 'usage');
    this.name = 'UsageError';
  }
}

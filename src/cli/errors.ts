// How the CLI ends: a user's mistake (or an API refusal) prints one clear line and exits 1; an
// internal fault prints its stack and exits 2. With --output json, errors are JSON too.
import { isPlinthError } from '../domain/errors.ts';

export class UserError extends Error {
  readonly code: string;
  constructor(message: string, code = 'USER_ERROR') {
    super(message);
    this.name = 'UserError';
    this.code = code;
  }
}

export class ApiError extends UserError {
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message, code);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function exitWith(err: unknown, json: boolean): never {
  const expected = err instanceof UserError || isPlinthError(err);
  const code = err instanceof UserError || isPlinthError(err) ? err.code : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  if (json) {
    process.stdout.write(JSON.stringify({ error: { code, message } }) + '\n');
  } else if (expected) {
    process.stderr.write(`error: ${message}\n`);
  } else {
    process.stderr.write(
      `plinth: internal error (please report it): ${err instanceof Error ? (err.stack ?? message) : message}\n`,
    );
  }
  process.exit(expected ? 1 : 2);
}

// Validates request bodies and query strings with zod at the edge; errors name the field.
import type { z } from 'zod';
import { PlinthError } from '../domain/errors.ts';

export function parseInput<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  throw new PlinthError('VALIDATION_ERROR', `${what}${field ? ` field "${field}"` : ''}: ${issue.message}`);
}

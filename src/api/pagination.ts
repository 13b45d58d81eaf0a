// Pages of the API's lists: `?limit=N&cursor=C` answers at most N items after the cursor, with
// `next_cursor` (null on the last page); without `limit` a list answers every item. A cursor is
// opaque to clients: the sort key of the last item given (base64url of a JSON array of strings).
// Pure: no store, no HTTP.
import { z } from 'zod';
import { PlinthError } from '../domain/errors.ts';
import { parseInput } from './validate.ts';

export const MAX_PAGE_LIMIT = 1000;

/** What a list request asks for: how many (all when undefined), after which sort key. */
export interface PageRequest {
  limit: number | undefined;
  after: readonly string[] | undefined;
}

const LIMIT_MESSAGE = `expected a whole number from 1 to ${MAX_PAGE_LIMIT}`;

const pageQuery = z.object({
  limit: z
    .string({ error: LIMIT_MESSAGE })
    .regex(/^\d+$/, LIMIT_MESSAGE)
    .transform(Number)
    .pipe(z.number().int().min(1, LIMIT_MESSAGE).max(MAX_PAGE_LIMIT, LIMIT_MESSAGE))
    .optional(),
  cursor: z.string({ error: 'expected one cursor' }).min(1, 'expected a cursor').optional(),
});

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string, keyLength: number): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== keyLength || !key.every((k) => typeof k === 'string')) {
    throw new PlinthError(
      'VALIDATION_ERROR',
      'query field "cursor": not a cursor this list gave (pass next_cursor as it came)',
    );
  }
  return key as string[];
}

/** Reads `limit` and `cursor` from a query string; a bad one is a VALIDATION_ERROR naming it. */
export function parsePage(query: unknown, keyLength: number): PageRequest {
  const q = parseInput(pageQuery, query, 'query');
  return { limit: q.limit, after: q.cursor === undefined ? undefined : decodeCursor(q.cursor, keyLength) };
}

/** Orders sort keys part by part (plain string order, as the cursor compares them). */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return a.length - b.length;
}

/**
 * The page of `items` a request asks for, from a list held whole in memory (a model's deployments
 * or environments): sorted by `key`, after the cursor, cut to the limit.
 */
export function pageOf<T>(
  items: readonly T[],
  page: PageRequest,
  key: (item: T) => string[],
): { items: T[]; next_cursor: string | null } {
  if (page.limit === undefined && page.after === undefined) return { items: [...items], next_cursor: null };
  const keyed = items.map((item) => ({ item, key: key(item) })).sort((a, b) => compareKeys(a.key, b.key));
  const after = page.after;
  const rest = after ? keyed.filter((k) => compareKeys(k.key, after) > 0) : keyed;
  const shown = page.limit === undefined ? rest : rest.slice(0, page.limit);
  const more = shown.length < rest.length;
  return { items: shown.map((k) => k.item), next_cursor: more ? encodeCursor(shown.at(-1)!.key) : null };
}

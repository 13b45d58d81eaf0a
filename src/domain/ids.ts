// Identifiers: a one-letter kind prefix and 7 lowercase base32 characters (`m4k2q9zd`).
// Pure: no I/O beyond the CSPRNG.
import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export type IdKind = 'm' | 'd' | 'e' | 'r' | 'k' | 'p' | 'a' | 'w';

/** `length` random characters after the kind (7; more where many are made, as async requests are). */
export function newId(kind: IdKind, length = 7): string {
  const bytes = randomBytes(length);
  let out: string = kind;
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

/** Whether `value` has the form newId(kind, length) gives. */
export function isId(kind: IdKind, value: string, length = 7): boolean {
  return (
    value.length === length + 1 &&
    value.startsWith(kind) &&
    [...value.slice(1)].every((c) => ALPHABET.includes(c))
  );
}

/** Names users give models, deployments and environments. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

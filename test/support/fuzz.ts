// Seeded random inputs for property tests: the same seed gives the same cases, so a failure
// names a seed that reproduces it.

export interface Random {
  seed: number;
  next(): number;
  int(max: number): number;
  pick<T>(items: readonly T[]): T;
  string(maxLength: number, alphabet?: string): string;
  /** Any JSON-ish value: nested objects, arrays, strings, numbers, booleans, null. */
  value(depth?: number): unknown;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789_-./: \n\t"\'{}[]\\\u0000é日';

export function random(seed: number): Random {
  let s = seed;
  const next = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r: Random = {
    seed,
    next,
    int: (max) => Math.floor(next() * max),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    string: (maxLength, alphabet = ALPHABET) =>
      Array.from(
        { length: Math.floor(next() * (maxLength + 1)) },
        () => alphabet[Math.floor(next() * alphabet.length)],
      ).join(''),
    value(depth = 3) {
      const kind = r.int(depth > 0 ? 8 : 5);
      if (kind === 0) return null;
      if (kind === 1) return r.next() < 0.5;
      if (kind === 2) return r.pick([0, -1, 1, 2.5, 1e12, -0, Number.MAX_SAFE_INTEGER, 3600, 100000]);
      if (kind === 3 || kind === 4) return r.string(12);
      if (kind === 5) return Array.from({ length: r.int(4) }, () => r.value(depth - 1));
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.string(8), r.value(depth - 1)]));
    },
  };
  return r;
}

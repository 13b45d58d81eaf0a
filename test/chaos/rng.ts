// The chaos run's seeded randomness: the same seed gives the same draws, so a run's operation
// plan can be replayed. Built on the property tests' generator (test/support/fuzz.ts).
import { random } from '../support/fuzz.ts';

export interface Rng {
  seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, max). */
  int(max: number): number;
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  chance(p: number): boolean;
  /** One key of `weights`, drawn in proportion to its weight (keys with weight 0 never). */
  weighted<K extends string>(weights: Partial<Record<K, number>>): K;
}

export function makeRng(seed: number): Rng {
  const r = random(seed);
  const rng: Rng = {
    seed,
    next: () => r.next(),
    int: (max) => r.int(max),
    between: (lo, hi) => lo + r.int(hi - lo + 1),
    chance: (p) => r.next() < p,
    weighted<K extends string>(weights: Partial<Record<K, number>>): K {
      const entries = (Object.entries(weights) as [K, number][]).filter(([, w]) => w > 0);
      const total = entries.reduce((sum, [, w]) => sum + w, 0);
      let x = r.next() * total;
      for (const [k, w] of entries) {
        x -= w;
        if (x < 0) return k;
      }
      return entries.at(-1)![0];
    },
  };
  return rng;
}

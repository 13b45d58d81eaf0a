// Kubernetes resource quantities ("500m", "2", "512Mi", "1G"). Pure.

const SUFFIXES: Record<string, number> = {
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A quantity as a number of units (cores for CPU, bytes for memory); NaN when it is not one. */
export function parseQuantity(q: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] ? (SUFFIXES[m[2]] ?? NaN) : 1);
}

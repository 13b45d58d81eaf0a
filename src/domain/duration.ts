// Durations as people write them in flags: `90s`, `30m`, `12h`, `14d` (a bare number is seconds),
// read into seconds and written back in the largest unit that holds them whole. Pure.

const UNIT_S = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
type Unit = keyof typeof UNIT_S;

/** Seconds of `90s`, `30m`, `12h`, `14d` or `45`; null when it is none of these or not above zero. */
export function parseDurationS(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/.exec(text.trim());
  if (!m) return null;
  const seconds = Number(m[1]) * UNIT_S[(m[2] || 's') as Unit];
  return seconds > 0 ? seconds : null;
}

/** `1209600` → `14d`, `90` → `90s`, `5400` → `90m`: the largest unit that divides it. */
export function formatDurationS(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const n = seconds / UNIT_S[unit];
    if (Number.isInteger(n) && n > 0) return `${n}${unit}`;
  }
  return `${seconds}s`;
}

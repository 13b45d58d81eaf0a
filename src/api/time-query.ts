// Times in query strings: `10m`, `2h`, `30s`, `1d` ago, or an ISO time.

/** `10m`, `2h`, `30s`, `1d` → an ISO time that long ago; ISO times pass through. */
export function parseSince(value: string, nowMs: number): string {
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (!m) return value;
  const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return new Date(nowMs - Number(m[1]) * unitMs).toISOString();
}

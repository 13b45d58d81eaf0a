// Printing results: aligned tables for people, JSON for scripts.

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** `word` as a POSIX shell reads it back: bare when safe, else in single quotes. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9._:/@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write([line(headers), ...rows.map(line)].join('\n') + '\n');
}

export function formatLogLine(l: {
  time: string;
  level: string;
  source: string;
  replica: string | null;
  message: string;
}): string {
  const who = l.replica ? `${l.source}/${l.replica}` : l.source;
  return `${l.time} ${l.level.padEnd(7)} ${who}: ${l.message}`;
}

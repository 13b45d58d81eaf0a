// Why a local replica ended, in words for events and logs: the model's own load() error when it
// failed loading (the model server marks it), else the last line it printed and how it ended.

/** The line the model servers print when the model's load() failed (followed by the traceback). */
export const LOAD_FAILED = 'plinth: load() failed: ';

/** What the model printed from its load() failure on (its traceback), when it failed loading. */
export function errorOutput(lastErrorLines: string[], wasReady: boolean): string | undefined {
  const from = lastErrorLines.findIndex((l) => l.startsWith(LOAD_FAILED));
  if (from === -1) return wasReady ? undefined : lastErrorLines.join('\n') || undefined;
  return lastErrorLines.slice(from).join('\n');
}

export function exitReason(
  lastErrorLines: string[],
  stopRequested: boolean,
  code: number | null,
  signal: NodeJS.Signals | null,
): string {
  const loadError = lastErrorLines.find((l) => l.startsWith(LOAD_FAILED));
  if (loadError) return `load() failed: ${loadError.slice(LOAD_FAILED.length)}`;
  if (stopRequested) return 'stopped by the platform';
  const last = lastErrorLines.filter((l) => l.trim() !== '').at(-1);
  const how = signal
    ? `killed by ${signal}`
    : code !== null
      ? `exited with code ${code}`
      : 'ended (adopted after a server restart: its exit status is not known)';
  return last ? `replica ${how}: ${last}` : `replica ${how}`;
}

// When a gateway worker that exited unexpectedly is started again: at once-ish the first time,
// then doubling while it keeps failing soon after its start, up to half a minute; one that served
// a while before it exited starts the count afresh. Pure: times come in as numbers.

/** A worker that lived at least this long before exiting was not failing at start. */
export const HEALTHY_RUN_MS = 60_000;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

/** Failures in a row once a worker that lived `livedMs` exits, after `before` in a row. */
export function failuresInRow(before: number, livedMs: number): number {
  return livedMs >= HEALTHY_RUN_MS ? 1 : before + 1;
}

/** How long to wait before starting a worker again after `failures` (≥ 1) in a row. */
export function restartDelayMs(failures: number): number {
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.max(0, failures - 1));
}

// Waiting in tests: `sleep`, and `until`, which polls until a condition holds and, when it does not
// in time, fails saying what was awaited and what it still was. The one copy every test uses.
export { setTimeout as sleep } from 'node:timers/promises';

/** Polls `get` until `ok` holds (by default: until it gives something truthy); returns that value. */
export async function until<T>(
  what: string,
  get: () => T | Promise<T>,
  ok: (v: T) => boolean = Boolean,
  timeoutMs = 120_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${describe(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
    v = await get();
  }
  return v;
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

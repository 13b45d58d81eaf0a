// A lock that processes take before work the others would only repeat (preparing a shared
// environment, downloading a weights file): a file created exclusively (O_EXCL) that names its owner
// by host, pid and process start time. One whose owner on this host is gone (a crash, a kill) is
// taken over; one from another host (control planes sharing a home on a volume: their pids mean
// nothing here) only once its holder has not refreshed it (`touchLock`) for FOREIGN_STALE_MS. The
// lock only saves work: what it guards must still be safe if two holders ever overlap.
import {
  closeSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';

/** `host:pid:start`, the start time in clock ticks since boot (Linux), so a reused pid names no one. */
function ownerId(pid: number): string {
  return `${hostname()}:${pid}:${processStart(pid) ?? ''}`;
}

/** A lock another host holds is stale once it has not been refreshed for this long. */
export const FOREIGN_STALE_MS = 10 * 60_000;

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may hold spaces, so count from its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(owner: string, file: string): boolean {
  const parts = owner.split(':');
  // An older `pid:start` owner is this host's.
  const [host, pidText, start] = parts.length >= 3 ? parts : [hostname(), ...parts];
  if (host !== hostname()) return Date.now() - statSync(file).mtimeMs < FOREIGN_STALE_MS;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (start) return processStart(pid) === start;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file left without an owner written (its creator died at once) is stale after this long. */
const UNWRITTEN_STALE_MS = 10_000;

/**
 * Takes the lock if it is free (or held by a process that is gone); returns whether this process
 * holds it now. Never waits.
 */
export function tryLock(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, ownerId(process.pid));
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!stale(file)) return false;
    // Taken over by renaming it away first: of several processes that found it stale, only one
    // moves this very file; the others find the name gone, or the new holder's lock.
    const aside = `${file}.stale-${process.pid}-${Date.now()}`;
    try {
      renameSync(file, aside);
    } catch {
      continue;
    }
    rmSync(aside, { force: true });
  }
  return false;
}

function stale(file: string): boolean {
  try {
    const owner = readFileSync(file, 'utf8').trim();
    if (owner) return !alive(owner, file);
    return Date.now() - statSync(file).mtimeMs > UNWRITTEN_STALE_MS;
  } catch {
    return false; // gone meanwhile: the next attempt creates it
  }
}

/** Gives the lock up, if this process still holds it. */
export function unlock(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === ownerId(process.pid)) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}

/** Marks a held lock as still held (for the other hosts that cannot see this process). */
export function touchLock(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // gone: the holder finds out when it unlocks
  }
}

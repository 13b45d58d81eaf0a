// A small disk that a test can fill (the chaos run's home, a replica directory): a tmpfs of its own where
// `mount` is allowed (root on a machine that permits it), else nothing (the full-disk operation is
// then skipped, with a note). Filling writes a filler file until the disk says ENOSPC.
import { execFile } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

function run(command: string, args: string[]): Promise<{ ok: boolean; message: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 10_000 }, (err, _stdout, stderr) =>
      resolve({ ok: !err, message: (stderr || err?.message || '').trim() }),
    );
  });
}

/** Mounts a tmpfs of `sizeMb` at `dir`; answers null, or why it could not. */
export async function mountSmallDisk(dir: string, sizeMb: number): Promise<string | null> {
  const r = await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', dir]);
  return r.ok ? null : `mount -t tmpfs failed (${r.message || 'no reason given'})`;
}

export async function unmount(dir: string): Promise<void> {
  const r = await run('umount', [dir]);
  if (!r.ok) await run('umount', ['-l', dir]);
}

const FILLER = 'chaos-filler';

/** Writes a filler file under `dir` until the disk is full; answers the bytes written. */
export function fillDisk(dir: string): number {
  const fd = openSync(join(dir, FILLER), 'w');
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
      // A tmpfs refuses a write that does not fit whole: finish the last megabyte in small pieces.
    }
    for (;;) {
      try {
        written += writeSync(fd, chunk, 0, 4096);
      } catch {
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

export function emptyDisk(dir: string): void {
  rmSync(join(dir, FILLER), { force: true });
}

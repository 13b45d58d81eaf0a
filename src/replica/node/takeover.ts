// How a Node replica process becomes its replica, and how long it outlives its server. Started as
// a standby (PLINTH_STANDBY=1), it boots, says so on PLINTH_STANDBY_BOOTED_FD, then waits for one
// JSON line on stdin — the environment and directory of the replica it becomes — so that a cold
// start pays only for the model's load(). A replica that runs as its own user (the server is
// root) drops to it here, first thing, before anything of the model is loaded. It opens its parent
// file as it boots and keeps it: afterwards the file may be neither visible nor readable to it.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

interface Handover {
  env: Record<string, string>;
  cwd: string;
}

/** The parent file (PLINTH_PARENT_FILE): opened while it could be, else opened when it is read. */
export interface ParentFile {
  path: string | undefined;
  fd: number | null;
}

function openParentFile(path: string | undefined): ParentFile {
  const file: ParentFile = { path, fd: null };
  reopen(file);
  return file;
}

function reopen(file: ParentFile): void {
  if (file.fd !== null || !file.path) return;
  try {
    file.fd = openSync(file.path, 'r');
  } catch {
    // Not written yet (an older server writes it only when it adopts), or not readable.
  }
}

/** Gives up root for the replica's own uid and gid (PLINTH_REPLICA_UID, PLINTH_REPLICA_GID), if given. */
function dropPrivileges(env: Record<string, string>): void {
  if (!env.PLINTH_REPLICA_UID) return;
  const uid = Number(env.PLINTH_REPLICA_UID);
  const gid = Number(env.PLINTH_REPLICA_GID ?? env.PLINTH_REPLICA_UID);
  try {
    process.setgroups!([]);
    process.setgid!(gid);
    process.setuid!(uid);
  } catch (err) {
    console.error(`replica: could not run as uid ${uid}: ${(err as Error).message}`);
    process.exit(2);
  }
  if (process.getuid!() !== uid || process.geteuid!() !== uid || process.getegid!() !== gid) {
    console.error(`replica: still not uid ${uid} after setuid`);
    process.exit(2);
  }
}

/** Waits for the replica this process becomes (a standby) and takes it on; returns its parent file. */
export async function becomeReplica(): Promise<ParentFile> {
  // Opened now, while it may be (a standby's is its own, renamed with it when it becomes a replica).
  const parent = openParentFile(process.env.PLINTH_PARENT_FILE);
  if (process.env.PLINTH_STANDBY !== '1') return parent;
  const bootedFd = Number(process.env.PLINTH_STANDBY_BOOTED_FD ?? -1);
  if (bootedFd >= 0) {
    writeSync(bootedFd, 'booted\n');
    closeSync(bootedFd);
  }
  const handover = await new Promise<Handover>((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', (line) => {
      rl.close();
      resolve(JSON.parse(line) as Handover);
    });
  });
  delete process.env.PLINTH_STANDBY;
  delete process.env.PLINTH_STANDBY_BOOTED_FD;
  if (parent.fd === null) parent.path = handover.env.PLINTH_PARENT_FILE;
  reopen(parent);
  dropPrivileges(handover.env);
  Object.assign(process.env, handover.env);
  process.chdir(handover.cwd);
  return parent;
}

/**
 * A replica outlives its platform process only for a grace period, in which a restarted server
 * adopts it by writing its own pid to the parent file; then it serves on under the new owner.
 */
export function watchParent(first: number, parentFile: ParentFile, graceMs: number): void {
  if (first <= 0) return;
  // A server running as another user (root) cannot be signalled, but is there.
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const adopter = (): number => {
    reopen(parentFile);
    if (parentFile.fd === null) return 0;
    try {
      const buf = Buffer.alloc(32);
      return Number(buf.toString('utf8', 0, readSync(parentFile.fd, buf, 0, buf.length, 0)).trim()) || 0;
    } catch {
      return 0;
    }
  };
  let parent = first;
  let orphanedAt: number | null = null;
  setInterval(() => {
    if (alive(parent)) return;
    orphanedAt ??= Date.now();
    const next = adopter();
    if (next > 0 && next !== parent && alive(next)) {
      parent = next;
      orphanedAt = null;
    } else if (Date.now() - orphanedAt >= graceMs) {
      process.exit(0);
    }
  }, 500).unref();
}

// File access for a replica that runs as its own user (the server runs as root): its app directory
// is root's, group-owned by the replica's gid and closed to everyone else (0750), with everything
// inside readable; its prepared environment readable by all (it holds packages, not secrets); and
// a home of its own, kept with the app directory, that it owns. Nothing else of the Plinth home is
// opened to it. Trees are walked asynchronously: an environment or app directory of tens of
// thousands of files is opened without stalling the server.
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { chmod, chown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface ReplicaOwner {
  uid: number;
  gid: number;
}

/** Marks an environment whose files were all made readable (environments never change once built). */
const READABLE_MARKER = '.plinth-readable';

/** The home a replica gets (HOME): beside its app directory, so it goes when the deployment goes. */
export function replicaHomeOf(appDir: string): string {
  return `${appDir}.home`;
}

/** Whether a user who is neither its owner nor in its group can cross `dir`. */
export function othersCanCross(dir: string): boolean {
  try {
    return (statSync(dir).mode & 0o001) !== 0;
  } catch {
    return false;
  }
}

/** Adds read (and, for directories and executables, search) for others wherever it is missing. */
export async function openToOthers(root: string): Promise<void> {
  const visit = async (path: string): Promise<void> => {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return;
    const mode = stat.mode & 0o7777;
    const wanted = stat.isDirectory() || (mode & 0o111) !== 0 ? mode | 0o005 : mode | 0o004;
    if (wanted !== mode) await chmod(path, wanted);
    if (stat.isDirectory()) await inBatches(await readdir(path), (name) => visit(join(path, name)));
  };
  await visit(root);
}

/** Entries of a directory this many at a time: enough to keep the disk busy, few enough not to flood the loop. */
const BATCH = 32;

async function inBatches(names: string[], each: (name: string) => Promise<void>): Promise<void> {
  for (let i = 0; i < names.length; i += BATCH) await Promise.all(names.slice(i, i + BATCH).map(each));
}

/** Opens a prepared environment to replica users, once. */
export async function openEnvironment(envDir: string): Promise<void> {
  if (existsSync(join(envDir, READABLE_MARKER))) return;
  await openToOthers(envDir);
  writeFileSync(join(envDir, READABLE_MARKER), '', { mode: 0o644 });
}

/** Everything in the app directory readable, the directory itself only to the replica's group. */
export async function gateAppDir(appDir: string, owner: ReplicaOwner, opened: Set<string>): Promise<void> {
  // The directory is closed to all but the group first: what is opened inside it is never
  // reachable by anyone else, not even while the tree is being walked.
  const stat = statSync(appDir);
  if (stat.uid !== 0 || stat.gid !== owner.gid) chownSync(appDir, 0, owner.gid);
  if ((stat.mode & 0o7777) !== 0o750) chmodSync(appDir, 0o750);
  if (!opened.has(appDir)) {
    await inBatches(await readdir(appDir), (name) => openToOthers(join(appDir, name)));
    opened.add(appDir);
  }
}

/**
 * Closes a deployment's app directory and home again once its last replica is gone: its uid may
 * go to another deployment next, which must not find them open to it (root's, 0700; the next
 * start gives them to whichever uid the deployment gets then).
 */
export function closeAppDir(appDir: string): void {
  for (const dir of [appDir, replicaHomeOf(appDir)]) {
    if (!existsSync(dir)) continue;
    chownSync(dir, 0, 0);
    chmodSync(dir, 0o700);
  }
}

/** Makes the replica's home (0700); for a replica user, owned by it, down to every file. */
export async function prepareReplicaHome(dir: string, owner: ReplicaOwner | null): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!owner) return;
  const stat = statSync(dir);
  if (stat.uid === owner.uid && stat.gid === owner.gid) return;
  // The deployment had another uid before (its slot was taken by another running deployment).
  await chownTree(dir, owner);
}

async function chownTree(path: string, owner: ReplicaOwner): Promise<void> {
  const stat = await lstat(path);
  if (stat.isDirectory()) await inBatches(await readdir(path), (name) => chownTree(join(path, name), owner));
  if (!stat.isSymbolicLink()) await chown(path, owner.uid, owner.gid);
}

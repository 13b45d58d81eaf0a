// What a replica's private mount namespace hides and what it gives back, as a plan of mounts (pure;
// `replica-sandbox.ts` runs it). A tmpfs goes over each hidden directory — the Plinth home, $HOME,
// and for a replica user any directory it could not cross on the way to what it needs — and each
// directory the replica needs (its app directory, its environment, its own home, the runtime it
// runs on) is bound back at its own path from a descriptor opened before anything was covered,
// read-only but for its own home.
import { posix } from 'node:path';

export interface KeptPath {
  path: string;
  /** Bound back writable (else read-only). */
  writable?: boolean;
  /** Bound (read-only) onto itself even where nothing covers it. */
  always?: boolean;
}

export type MountStep = { kind: 'tmpfs'; path: string } | { kind: 'bind'; path: string; writable: boolean };

/** The descriptors a mount script may use (a POSIX shell's 3–9). */
const FIRST_FD = 3;
const LAST_FD = 9;

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

function strictlyWithin(path: string, dir: string): boolean {
  return path !== dir && within(path, dir);
}

/** `/a/b/c` → `/a`, `/a/b` (the directories crossed to reach it, `/` left out). */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}

/**
 * The directories to cover: `secret` ones, and for each kept path the topmost directory on the
 * way to it that the replica cannot cross (`crossable`: for a replica user, the host's modes).
 */
export function hiddenRoots(secret: string[], kept: string[], crossable: (dir: string) => boolean): string[] {
  const out = new Set(secret.map((p) => posix.resolve(p)).filter((p) => p !== '/'));
  for (const path of kept) {
    const blocked = ancestors(posix.resolve(path)).find((dir) => !crossable(dir));
    if (blocked) out.add(blocked);
  }
  return [...out];
}

/**
 * The mounts, in the order to make them: only kept paths under a hidden directory are bound back
 * (one inside another kept path is visible through it, unless a hidden directory lies between);
 * a hidden directory inside another is covered again only when a kept path between them shows it.
 */
export function planMounts(hiddenDirs: string[], keptPaths: KeptPath[]): MountStep[] {
  const hidden = [...new Set(hiddenDirs.map((p) => posix.resolve(p)))];
  const unique = new Map(keptPaths.map((k) => [posix.resolve(k.path), k]));
  const kept = [...unique].map(([path, k]) => ({ ...k, path }));
  const covered = kept.filter((k) => k.always || hidden.some((h) => within(k.path, h)));
  const binds = covered.filter(
    (k) =>
      !covered.some(
        (outer) =>
          strictlyWithin(k.path, outer.path) &&
          !hidden.some((h) => strictlyWithin(h, outer.path) && within(k.path, h)),
      ),
  );
  const tmpfs = hidden.filter(
    (h) =>
      !hidden.some(
        (outer) => strictlyWithin(h, outer) && !binds.some((b) => within(b.path, outer) && within(h, b.path)),
      ),
  );
  const depth = (p: string): number => p.split('/').length;
  const steps: MountStep[] = [
    ...tmpfs.map((path) => ({ kind: 'tmpfs' as const, path })),
    ...binds.map((b) => ({
      kind: 'bind' as const,
      path: b.path,
      writable: b.writable === true,
    })),
  ];
  // Shallow first; on the same path the cover goes before what is bound back over it.
  return steps.sort((a, b) => depth(a.path) - depth(b.path) || (a.kind === 'tmpfs' ? -1 : 1));
}

/** A mount table (fstab) line: fields escaped as libmount reads them back. */
function tableLine(source: string, target: string, type: string, options: string): string {
  const escape = (field: string): string =>
    field.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return `${escape(source)} ${escape(target)} ${type} ${options} 0 0`;
}

/**
 * A POSIX shell script (and its arguments) that makes the mounts inside the replica's mount
 * namespace, and the mount tables it reads (to be written at `tableFile(i)` beforehand). It
 * refuses to run in the server's own mount namespace (`serverPid`'s), and opens every kept path and
 * table before the first cover goes on. Each cover is one mount; each run of binds after it is one
 * `mount -a` over a table (a process started costs more than anything else here).
 */
export function mountScript(
  steps: MountStep[],
  serverPid: number,
  tableFile: (i: number) => string,
): { script: string; args: string[]; tables: { path: string; content: string }[] } {
  const runs: MountStep[][] = [];
  for (const step of steps) {
    const last = runs.at(-1);
    if (step.kind === 'bind' && last?.[0]?.kind === 'bind') last.push(step);
    else runs.push([step]);
  }
  const binds = steps.filter((s) => s.kind === 'bind');
  const tableRuns = runs.filter((r) => r[0]!.kind === 'bind');
  const fds = binds.length + tableRuns.length;
  if (fds > LAST_FD - FIRST_FD + 1)
    throw new Error(`a replica's mounts need at most ${LAST_FD - FIRST_FD + 1} descriptors; these ${fds}`);
  // Paths go in as arguments, never into the script's text.
  const args = [String(serverPid)];
  const param = (value: string): string => `"\${${args.push(value)}}"`;
  const fdOf = new Map<MountStep | MountStep[], number>();
  let next = FIRST_FD;
  const opens: string[] = [];
  for (const b of binds) {
    fdOf.set(b, next);
    opens.push(`${next++}<${param(b.path)}`);
  }
  const tables = tableRuns.map((run, i) => {
    const path = tableFile(i);
    fdOf.set(run, next);
    opens.push(`${next++}<${param(path)}`);
    const lines = run.map((b) =>
      tableLine(
        `/proc/self/fd/${fdOf.get(b)}`,
        b.path,
        'none',
        `bind,X-mount.mkdir${b.kind === 'bind' && b.writable ? '' : ',ro'}`,
      ),
    );
    return { path, content: lines.join('\n') + '\n' };
  });
  const lines = [
    'set -eu',
    `[ ! /proc/self/ns/mnt -ef "/proc/$1/ns/mnt" ] || { echo "refused: this is the server's own mount namespace" >&2; exit 1; }`,
    ...(opens.length ? [`exec ${opens.join(' ')}`] : []),
    'umask 022',
  ];
  for (const run of runs) {
    if (run[0]!.kind === 'tmpfs')
      lines.push(
        `mount -t tmpfs -o mode=0755,size=1m,nr_inodes=4096,nosuid,nodev plinth-hidden ${param(run[0]!.path)}`,
      );
    else lines.push(`mount --no-canonicalize -a -T /proc/self/fd/${fdOf.get(run)}`);
  }
  return { script: lines.join('\n'), args, tables };
}

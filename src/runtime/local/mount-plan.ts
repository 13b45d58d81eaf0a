// What a replica's private mount namespace hides and what it gives back, as a plan of mounts (pure;
// `confine.ts` runs it). A tmpfs goes over each hidden directory — the Plinth home, $HOME, and for
// a replica user any directory it could not cross on the way to what it needs — and each path the
// replica needs (its app directory, its environment, its parent file, its own home, the runtime
// it runs on) is bound back at its own path from a descriptor opened before anything was covered,
// read-only but for its own home.
import { posix } from 'node:path';

export interface KeptPath {
  path: string;
  /** A file (bound onto a file) rather than a directory. */
  file: boolean;
  /** Bound back writable (else read-only). */
  writable?: boolean;
  /** Bound (read-only) onto itself even where nothing covers it. */
  always?: boolean;
}

export type MountStep =
  { kind: 'tmpfs'; path: string } | { kind: 'bind'; path: string; file: boolean; writable: boolean };

/** The descriptors a mount script may use for the paths it binds back (a POSIX shell's 3–9). */
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
      file: b.file,
      writable: b.writable === true,
    })),
  ];
  // Shallow first; on the same path the cover goes before what is bound back over it.
  return steps.sort((a, b) => depth(a.path) - depth(b.path) || (a.kind === 'tmpfs' ? -1 : 1));
}

/**
 * A POSIX shell script (and its arguments) that makes the mounts inside the replica's mount
 * namespace. It refuses to run in the server's own mount namespace (`serverPid`'s), and opens
 * every kept path before the first cover goes on. Few commands: each one is a process to start.
 */
export function mountScript(steps: MountStep[], serverPid: number): { script: string; args: string[] } {
  const binds = steps.filter((s) => s.kind === 'bind');
  if (binds.length > LAST_FD - FIRST_FD + 1)
    throw new Error(`a replica keeps at most ${LAST_FD - FIRST_FD + 1} paths; this one ${binds.length}`);
  // Paths go in as arguments, never into the script's text.
  const args = [String(serverPid)];
  const param = (value: string): string => `"\${${args.push(value)}}"`;
  const at = new Map(steps.map((step) => [step, param(step.path)]));
  const fdOf = new Map<MountStep, number>(binds.map((b, i) => [b, FIRST_FD + i]));
  const lines = [
    'set -eu',
    `[ ! /proc/self/ns/mnt -ef "/proc/$1/ns/mnt" ] || { echo "refused: this is the server's own mount namespace" >&2; exit 1; }`,
  ];
  if (binds.length) lines.push(`exec ${binds.map((b) => `${fdOf.get(b)}<${at.get(b)}`).join(' ')}`);
  lines.push('umask 022');
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.kind === 'tmpfs') {
      lines.push(
        `mount -t tmpfs -o mode=0755,size=1m,nr_inodes=4096,nosuid,nodev plinth-hidden ${at.get(step)}`,
      );
      continue;
    }
    // A run of binds: the places to bind onto (on the covers made before) are made at once.
    const run: MountStep[] = [];
    for (; steps[i]?.kind === 'bind'; i++) run.push(steps[i]!);
    i--;
    const file = (b: MountStep): boolean => b.kind === 'bind' && b.file;
    lines.push(`mkdir -p ${run.map((b) => (file(b) ? param(posix.dirname(b.path)) : at.get(b))).join(' ')}`);
    for (const b of run) {
      if (file(b)) lines.push(`[ -e ${at.get(b)} ] || : > ${at.get(b)}`);
      const ro = b.kind === 'bind' && !b.writable ? ' -o ro' : '';
      lines.push(`mount --no-canonicalize --bind${ro} /proc/self/fd/${fdOf.get(b)} ${at.get(b)}`);
    }
  }
  return { script: lines.join('\n'), args };
}

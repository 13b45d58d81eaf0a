// How a custom server (config `docker_server`) runs as a local replica: its start command through
// `sh -c` in the app directory, in its own process group (a server's workers end with it), on a
// port of its own in `$PORT` (or its fixed `server_port`), the prepared environment's `bin` first
// on PATH, the deployment's secrets also as files. Confined like any replica: it starts as a shell
// that waits (`WAITER`) until its mounts are made and it is told to go, then becomes the command
// (as the replica's user, where replicas run as their own users).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { CustomServer } from '../../domain/custom-server.ts';
import type { ReplicaSpec } from '../backend.ts';
import type { LaunchCommand } from './launch.ts';
import { openOutput } from './replica-files.ts';
import type { OutputPaths } from './replica-files.ts';

/**
 * Runs its arguments (the server) and outlives a server that dies as a model server does: it reads
 * the pid of the Plinth server that owns it from its parent file (descriptor 4, opened while the
 * file was visible) every second, and when no owner has lived for PLINTH_REPLICA_GRACE_S seconds
 * (none adopted it) it stops the server, then kills what is left. A SIGTERM (a stop) goes on to the
 * server, whose exit status it ends with.
 */
const SUPERVISE = [
  '"$@" & child=$!',
  'trap \'kill -TERM "$child" 2>/dev/null\' TERM INT',
  'orphaned=0',
  'while kill -0 "$child" 2>/dev/null; do',
  '  [ -e /proc/$$/fd/4 ] || { command exec 4<"$PLINTH_PARENT_FILE"; } 2>/dev/null || :',
  '  owner=$(cat /proc/$$/fd/4 2>/dev/null)',
  '  if [ -n "$owner" ] && [ -d "/proc/$owner" ]; then orphaned=0; else orphaned=$((orphaned + 1)); fi',
  '  if [ "$orphaned" -eq "${PLINTH_REPLICA_GRACE_S:-60}" ]; then kill -TERM "$child" 2>/dev/null; fi',
  '  if [ "$orphaned" -ge $(( ${PLINTH_REPLICA_GRACE_S:-60} + 10 )) ]; then kill -KILL -- -$$; fi',
  '  sleep 1 & wait $!',
  'done',
  'wait "$child"',
].join('\n');

/**
 * Confined: opens its parent file, says it is up (descriptor 3), waits for one line (the
 * hand-over, once its mounts are made), then supervises its arguments in the app directory.
 */
const WAITER = `{ command exec 4<"$PLINTH_PARENT_FILE"; } 2>/dev/null || :; echo booted >&3; exec 3>&-; IFS= read -r _ || exit 1; cd "$PLINTH_APP_DIR" || exit 1\n${SUPERVISE}`;

/** A free port on 127.0.0.1, for a replica whose command takes `$PORT`. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The waiting shell of a confined custom server, and what it becomes (dropping to `uid` first). */
export function confinedLaunch(server: CustomServer, uid: number | null): LaunchCommand {
  const asUser = uid === null ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
  return {
    command: '/bin/sh',
    args: ['-c', WAITER, 'plinth-custom-server', ...asUser, '/bin/sh', '-c', server.command],
  };
}

/** What a custom server's process gets beyond the replica's own environment. */
export function customServerEnv(
  spec: Pick<ReplicaSpec, 'envDir' | 'appDir'>,
  port: number,
  secretsDir: string,
  path: string,
): Record<string, string> {
  return {
    PORT: String(port),
    PATH: spec.envDir ? `${join(spec.envDir, 'bin')}:${path}` : path,
    ...(spec.envDir ? { VIRTUAL_ENV: spec.envDir } : {}),
    PLINTH_APP_DIR: spec.appDir,
    PLINTH_SECRETS_DIR: secretsDir,
  };
}

/**
 * Writes the deployment's secrets as files (`<dir>/NAME`, as Truss servers read `/secrets/NAME`)
 * in a directory of the replica's own beside its app directory, whose parent only the server may
 * write (so no link a replica plants can redirect the writes): the server's, readable by the
 * replica's group only (0750, files 0640), read-only to the replica.
 */
export function writeSecretFiles(
  spec: Pick<ReplicaSpec, 'appDir' | 'replicaId'>,
  secrets: Record<string, string>,
  uid: number | null,
): string {
  const dir = secretFilesDir(spec);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  for (const [name, value] of Object.entries(secrets)) {
    // A secret's name is a config key: nothing that could leave the directory.
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) continue;
    writeFileSync(join(dir, name), value, { mode: 0o600, flag: 'wx' });
    if (uid !== null) {
      chownSync(join(dir, name), 0, uid);
      chmodSync(join(dir, name), 0o640);
    }
  }
  if (uid !== null) {
    chownSync(dir, 0, uid);
    chmodSync(dir, 0o750);
  }
  return dir;
}

/** Where a replica's secret files are: beside its deployment's app directory. */
export function secretFilesDir(spec: Pick<ReplicaSpec, 'appDir' | 'replicaId'>): string {
  return `${spec.appDir}.secrets-${spec.replicaId}`;
}

export function removeSecretFiles(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Starts a custom server at once (not confined): `sh -c` its command under the supervising shell, leading its own process group. */
export function spawnCustomServer(
  spec: Pick<ReplicaSpec, 'appDir'>,
  server: CustomServer,
  env: Record<string, string>,
  paths: OutputPaths,
): ChildProcess {
  const output = openOutput(paths);
  try {
    return spawn('/bin/sh', ['-c', SUPERVISE, 'plinth-custom-server', '/bin/sh', '-c', server.command], {
      cwd: spec.appDir,
      stdio: ['ignore', output.out, output.err],
      env,
      detached: true,
    });
  } finally {
    output.close();
  }
}

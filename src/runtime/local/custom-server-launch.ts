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
import { replicaHomeOf } from './replica-access.ts';
import { openOutput } from './replica-files.ts';
import type { OutputPaths } from './replica-files.ts';

/** Says it is up (descriptor 3), waits for one line (the hand-over), then becomes its arguments. */
const WAITER =
  'echo booted >&3; exec 3>&-; IFS= read -r _ || exit 1; cd "$PLINTH_APP_DIR" || exit 1; exec "$@"';

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
 * in a directory of the replica's own, in its home: 0700, files 0600, the replica user's.
 */
export function writeSecretFiles(
  spec: Pick<ReplicaSpec, 'appDir' | 'replicaId'>,
  secrets: Record<string, string>,
  uid: number | null,
): string {
  const dir = secretFilesDir(spec);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, value] of Object.entries(secrets)) {
    // A secret's name is a config key: nothing that could leave the directory.
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) continue;
    writeFileSync(join(dir, name), value, { mode: 0o600 });
    if (uid !== null) chownSync(join(dir, name), uid, uid);
  }
  if (uid !== null) {
    chownSync(replicaHomeOf(spec.appDir), uid, uid);
    chownSync(dir, uid, uid);
  }
  chmodSync(dir, 0o700);
  return dir;
}

/** Where a replica's secret files are. */
export function secretFilesDir(spec: Pick<ReplicaSpec, 'appDir' | 'replicaId'>): string {
  return join(replicaHomeOf(spec.appDir), `.secrets-${spec.replicaId}`);
}

export function removeSecretFiles(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Starts a custom server at once (not confined): `sh -c` its command, leading its own process group. */
export function spawnCustomServer(
  spec: Pick<ReplicaSpec, 'appDir'>,
  server: CustomServer,
  env: Record<string, string>,
  paths: OutputPaths,
): ChildProcess {
  const output = openOutput(paths);
  try {
    return spawn('/bin/sh', ['-c', server.command], {
      cwd: spec.appDir,
      stdio: ['ignore', output.out, output.err],
      env,
      detached: true,
    });
  } finally {
    output.close();
  }
}

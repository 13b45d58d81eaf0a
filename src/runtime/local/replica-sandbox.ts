// Confines each local replica before any of its model's code runs. A replica process starts as a
// waiting model server (a standby) under the mode's prefix (`sandbox-mode.ts`); once it has said it
// is up, the backend prepares what it may read (`replica-access.ts`), makes its mounts from outside
// with nsenter (`mount-plan.ts`: the Plinth home and $HOME covered, its own paths bound back), and
// only then hands it its replica. A replica user (root mode) drops to its uid itself, first thing
// on reading that hand-over, before it loads anything of the model.
import { execFile } from 'node:child_process';
import { existsSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../package-root.ts';
import type { ReplicaSpec } from '../backend.ts';
import { secureHome } from './home-permissions.ts';
import { hiddenRoots, mountScript, planMounts } from './mount-plan.ts';
import type { KeptPath } from './mount-plan.ts';
import {
  closeAppDir,
  gateAppDir,
  openEnvironment,
  othersCanCross,
  prepareReplicaHome,
  replicaHomeOf,
} from './replica-access.ts';
import type { ReplicaOwner } from './replica-access.ts';
import { ReplicaUsers } from './replica-users.ts';
import { describeSandbox, launchPrefix } from './sandbox-mode.ts';
import type { SandboxMode } from './sandbox-mode.ts';

const run = promisify(execFile);
const TOOL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the backend knows of a replica process it is about to hand a replica to. */
export interface ReplicaProcessPaths {
  /** The interpreter it runs on (node, or the base Python): its installation stays readable. */
  interpreter: string;
  /** Where the mount tables for it may be written for a moment (in the server's replica directory). */
  scratch: string;
  /** More paths it may read (a custom server's secret files). */
  readable?: string[];
}

export class ReplicaSandbox {
  private readonly users = new ReplicaUsers();
  private readonly openedAppDirs = new Set<string>();

  /** `home`: the Plinth home, when the backend's run directory is in one (its modes are tightened here). */
  constructor(
    readonly mode: SandboxMode,
    readonly home: string | null,
  ) {
    if (home) secureHome(home, mode.kind === 'user' && !mode.mountNamespace);
  }

  get isolated(): boolean {
    return this.mode.kind !== 'none';
  }

  describe(): string {
    return describeSandbox(this.mode, this.home);
  }

  /** The words before the model server's own command. */
  prefix(): string[] {
    return launchPrefix(this.mode);
  }

  /** The user a new replica of this spec runs as (null unless replicas run as their own users). */
  assign(spec: Pick<ReplicaSpec, 'replicaId' | 'deploymentId'>): number | null {
    if (this.mode.kind !== 'user') return null;
    const uid = this.users.uidFor(spec.deploymentId);
    this.users.hold(spec.replicaId, spec.deploymentId, uid);
    return uid;
  }

  /** A replica adopted from an earlier server keeps the uid it has. */
  hold(replicaId: string, deploymentId: string, uid: number | null | undefined): void {
    if (typeof uid === 'number') this.users.hold(replicaId, deploymentId, uid);
  }

  /** A replica has ended: its uid is free; its deployment's files close with its last replica. */
  release(replicaId: string, appDir?: string): void {
    const last = this.users.release(replicaId);
    if (last && appDir && this.mode.kind === 'user') {
      closeAppDir(appDir);
      // Opened again, whole, by the next start (and the set does not grow with every revision).
      this.openedAppDirs.delete(appDir);
    }
  }

  /** What a confined replica is handed beyond its spec's environment. */
  env(spec: Pick<ReplicaSpec, 'appDir'>, uid: number | null): Record<string, string> {
    if (!this.isolated) return {};
    const env: Record<string, string> = { HOME: replicaHomeOf(spec.appDir) };
    if (uid === null) return env;
    return {
      ...env,
      PLINTH_REPLICA_UID: String(uid),
      PLINTH_REPLICA_GID: String(uid),
      USER: 'plinth-replica',
      LOGNAME: 'plinth-replica',
    };
  }

  /**
   * Prepares the files a replica may read and the mounts of its namespace. `pid` must be a
   * waiting model server that is already in its own namespaces (it said it booted).
   */
  async confine(
    pid: number,
    spec: Pick<ReplicaSpec, 'appDir' | 'envDir' | 'baseEnvDir'>,
    uid: number | null,
    paths: ReplicaProcessPaths,
  ): Promise<void> {
    if (!this.isolated) return;
    const owner: ReplicaOwner | null = uid === null ? null : { uid, gid: uid };
    const replicaHome = replicaHomeOf(spec.appDir);
    await prepareReplicaHome(replicaHome, owner);
    if (owner) {
      await gateAppDir(spec.appDir, owner, this.openedAppDirs);
      if (spec.envDir) await openEnvironment(spec.envDir);
      if (spec.baseEnvDir) await openEnvironment(spec.baseEnvDir);
    }
    const runtime = dirname(dirname(realpathSync(paths.interpreter)));
    // As the server's user (namespace mode) a replica could write what that user owns: Plinth's
    // own code and runtime are made read-only for it wherever they are.
    const own = (path: string): boolean => this.mode.kind === 'namespace' && ownedByServer(path);
    const kept: KeptPath[] = [
      { path: spec.appDir },
      ...(spec.envDir ? [{ path: spec.envDir }] : []),
      // Shared by every deployment (and perhaps outside the home): read-only wherever it is.
      ...(spec.baseEnvDir ? [{ path: spec.baseEnvDir, always: own(spec.baseEnvDir) }] : []),
      { path: replicaHome, writable: true },
      { path: runtime, always: own(runtime) },
      { path: packageRoot(), always: own(packageRoot()) },
      ...(paths.readable ?? []).map((path) => ({ path })),
    ].filter((k) => existsSync(k.path));
    if (this.mode.kind === 'user' && !this.mode.mountNamespace) {
      checkReachable(kept.map((k) => k.path));
      return;
    }
    const crossable = owner ? othersCanCross : () => true;
    // $HOME too, unless it is closed to a replica user anyway (root's, 0700): one mount less.
    const userHome = process.env.HOME && crossable(process.env.HOME) ? process.env.HOME : null;
    const secret = [this.home, userHome].filter((p): p is string => !!p && existsSync(p));
    const hidden = hiddenRoots(
      secret,
      kept.map((k) => k.path),
      crossable,
    ).filter((p) => existsSync(p));
    const steps = planMounts(hidden, kept);
    if (steps.length === 0) return;
    const { script, args, tables } = mountScript(steps, process.pid, (i) => `${paths.scratch}-${i}`);
    const enter =
      this.mode.kind === 'namespace' ? ['--user', '--mount', '--preserve-credentials'] : ['--mount'];
    try {
      for (const table of tables) writeFileSync(table.path, table.content, { mode: 0o600 });
      await run(
        'nsenter',
        ['--target', String(pid), ...enter, '--', '/bin/sh', '-c', script, 'sh', ...args],
        {
          env: { PATH: TOOL_PATH },
          timeout: 10_000,
        },
      );
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`could not hide the home from the replica: ${(e.stderr || e.message).trim()}`);
    } finally {
      for (const table of tables) rmSync(table.path, { force: true });
    }
  }
}

function ownedByServer(path: string): boolean {
  try {
    return statSync(path).uid === process.getuid?.();
  } catch {
    return false;
  }
}

/** Without a mount namespace, a replica user must be able to cross to each path it needs. */
function checkReachable(paths: string[]): void {
  for (const path of paths) {
    const parts = posix.resolve(path).split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = join('/', ...parts.slice(0, i));
      if (!othersCanCross(dir))
        throw new Error(
          `the replica's user cannot reach ${path}: ${dir} is closed to other users (and this host allows no mount namespace)`,
        );
    }
  }
}

// How local replicas are kept from the server's home, chosen once at start-up and stated in the
// start-up lines. As root: each deployment's replicas run as their own unprivileged user, in a
// private mount namespace that hides the home when the host allows one (`unshare --mount`). Not
// as root: a user and mount namespace (`unshare --user --map-root-user --mount`) hides the home,
// and the replica holds no capabilities in it. Where neither works, or PLINTH_REPLICA_SANDBOX=off,
// replicas are not isolated, and the line says what that means. Every replica process starts as
// `<prefix> <model server>`: util-linux's unshare and setpriv execute in place (no fork), so the
// pid the backend records, signals and adopts is the model server's own.
import { spawnSync } from 'node:child_process';
import { REPLICA_UID_BASE } from './replica-users.ts';

export type SandboxMode =
  /** Root: replicas drop to their own uid; `mountNamespace` when a private one hides the home too. */
  | { kind: 'user'; mountNamespace: boolean }
  /** Not root: a user and mount namespace hides the home; no capabilities inside. */
  | { kind: 'namespace' }
  | { kind: 'none'; reason: string };

/** What the choice depends on, so that it can be tested without the host. */
export interface SandboxHost {
  isRoot: boolean;
  /** PLINTH_REPLICA_SANDBOX: `off` turns isolation off (for debugging). */
  setting: string | undefined;
  /** Whether this command (a prefix followed by `true`) runs and exits 0. */
  runs(command: string[]): boolean;
}

const NO_NEW_PRIVS = ['setpriv', '--no-new-privs', '--'];

/** The words that start a replica process before its model server's own command. */
export function launchPrefix(mode: SandboxMode): string[] {
  switch (mode.kind) {
    case 'user':
      return mode.mountNamespace ? ['unshare', '--mount', '--', ...NO_NEW_PRIVS] : NO_NEW_PRIVS;
    case 'namespace':
      // Root in its own user namespace, but with an empty bounding set: no capability there at
      // all, so the replica can never unmount what hides the home. The server mounts for it.
      return [
        'unshare',
        '--user',
        '--map-root-user',
        '--mount',
        '--',
        'setpriv',
        '--no-new-privs',
        '--bounding-set=-all',
        '--inh-caps=-all',
        '--',
      ];
    case 'none':
      return [];
  }
}

export function chooseSandbox(host: SandboxHost): SandboxMode {
  if (host.setting === 'off') return { kind: 'none', reason: 'turned off by PLINTH_REPLICA_SANDBOX=off' };
  const nsenter = host.runs(['nsenter', '--version']);
  if (host.isRoot) {
    const mountNamespace =
      nsenter && host.runs([...launchPrefix({ kind: 'user', mountNamespace: true }), 'true']);
    if (mountNamespace || host.runs([...launchPrefix({ kind: 'user', mountNamespace: false }), 'true']))
      return { kind: 'user', mountNamespace };
    return { kind: 'none', reason: 'running as root, but setpriv (util-linux) is missing' };
  }
  if (nsenter && host.runs([...launchPrefix({ kind: 'namespace' }), 'true'])) return { kind: 'namespace' };
  return {
    kind: 'none',
    reason: 'not running as root, and this host allows no user namespaces (unshare --user --mount failed)',
  };
}

export function detectSandbox(): SandboxMode {
  return chooseSandbox({
    isRoot: process.getuid?.() === 0,
    setting: process.env.PLINTH_REPLICA_SANDBOX,
    runs: (command) => {
      const result = spawnSync(command[0]!, command.slice(1), { stdio: 'ignore', timeout: 5000 });
      return result.status === 0;
    },
  });
}

/** The start-up statement of how replicas are isolated (`home` is the Plinth home, when known). */
export function describeSandbox(mode: SandboxMode, home: string | null): string {
  const where = home ?? "the server's home";
  switch (mode.kind) {
    case 'user':
      return mode.mountNamespace
        ? `replicas are isolated: each deployment's replicas run as their own unprivileged user (uid ${REPLICA_UID_BASE}+), in a private mount namespace that hides ${where} but their own app and environment`
        : `replicas are isolated: each deployment's replicas run as their own unprivileged user (uid ${REPLICA_UID_BASE}+); no mount namespace here, so file modes alone keep them from ${where} (another deployment's code is closed by its group)`;
    case 'namespace':
      return `replicas are isolated: a user and mount namespace hides ${where} and $HOME from each replica but its own app and environment; replicas run as the server's user, with no capabilities`;
    case 'none':
      return `replicas are NOT isolated (${mode.reason}): replicas can read the server's home: a deploy key is as strong as an admin key here`;
  }
}

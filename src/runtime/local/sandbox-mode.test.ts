import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseSandbox, describeSandbox, launchPrefix } from './sandbox-mode.ts';
import type { SandboxHost } from './sandbox-mode.ts';

/** A host where the commands starting with one of `working` run. */
function host(isRoot: boolean, working: string[], setting?: string): SandboxHost {
  return {
    isRoot,
    setting,
    runs: (command) => working.some((w) => command.join(' ').startsWith(w)),
  };
}

test('as root, replicas run as their own users, in a mount namespace where the host allows one', () => {
  assert.deepEqual(chooseSandbox(host(true, ['nsenter', 'unshare --mount', 'setpriv'])), {
    kind: 'user',
    mountNamespace: true,
  });
  // A container without CAP_SYS_ADMIN: no mount namespace, still another user.
  assert.deepEqual(chooseSandbox(host(true, ['nsenter', 'setpriv'])), {
    kind: 'user',
    mountNamespace: false,
  });
  assert.deepEqual(chooseSandbox(host(true, ['setpriv'])), { kind: 'user', mountNamespace: false });
  assert.equal(chooseSandbox(host(true, [])).kind, 'none');
});

test('not as root, a user and mount namespace; where there is none, no isolation, said plainly', () => {
  assert.deepEqual(chooseSandbox(host(false, ['nsenter', 'unshare --user'])), { kind: 'namespace' });
  // Root's prefix is never tried for an unprivileged server, nor is namespace mode chosen as root.
  assert.equal(chooseSandbox(host(false, ['nsenter', 'unshare --mount', 'setpriv'])).kind, 'none');
  assert.equal(chooseSandbox(host(true, ['nsenter', 'unshare --user'])).kind, 'none');
  const none = chooseSandbox(host(false, ['nsenter']));
  assert.equal(none.kind, 'none');
  assert.match(
    describeSandbox(none, '/h'),
    /replicas are NOT isolated \(not running as root, and this host allows no user namespaces/,
  );
  assert.match(
    describeSandbox(none, '/h'),
    /replicas can read the server's home: a deploy key is as strong as an admin key here/,
  );
});

test('PLINTH_REPLICA_SANDBOX=off turns isolation off, and says so', () => {
  const off = chooseSandbox(host(true, ['nsenter', 'unshare', 'setpriv'], 'off'));
  assert.deepEqual(off, { kind: 'none', reason: 'turned off by PLINTH_REPLICA_SANDBOX=off' });
  assert.match(describeSandbox(off, null), /NOT isolated \(turned off by PLINTH_REPLICA_SANDBOX=off\)/);
});

test('each mode starts replicas under its launcher, which replaces itself with the model server (no fork)', () => {
  assert.deepEqual(launchPrefix({ kind: 'none', reason: '' }), []);
  assert.deepEqual(launchPrefix({ kind: 'user', mountNamespace: false }), [
    'setpriv',
    '--no-new-privs',
    '--',
  ]);
  const user = launchPrefix({ kind: 'user', mountNamespace: true });
  assert.deepEqual(user.slice(0, 3), ['unshare', '--mount', '--']);
  const ns = launchPrefix({ kind: 'namespace' });
  assert.ok(ns.includes('--map-root-user') && ns.includes('--bounding-set=-all'));
  for (const prefix of [user, ns]) assert.ok(!prefix.includes('--fork') && !prefix.includes('-f'));
  assert.match(describeSandbox({ kind: 'user', mountNamespace: true }, '/srv/plinth'), /hides \/srv\/plinth/);
  assert.match(
    describeSandbox({ kind: 'namespace' }, '/srv/plinth'),
    /user and mount namespace hides \/srv\/plinth/,
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hiddenRoots, mountScript, planMounts } from './mount-plan.ts';

const HOME = '/srv/plinth';
const APP = `${HOME}/deployments/d1/app`;
const ENV = `${HOME}/environments/python-abc`;

test('the home is covered and only the paths the replica needs come back, shallow first', () => {
  const steps = planMounts(
    [HOME],
    [{ path: APP }, { path: ENV }, { path: `${APP}.home`, writable: true }, { path: '/usr' }],
  );
  assert.deepEqual(steps, [
    { kind: 'tmpfs', path: HOME },
    { kind: 'bind', path: ENV, writable: false },
    { kind: 'bind', path: APP, writable: false },
    { kind: 'bind', path: `${APP}.home`, writable: true },
  ]);
});

test('a directory the replica user cannot cross is covered too, and what it needs inside comes back', () => {
  const closed = new Set(['/root', '/tmp/scratch-0700']);
  const crossable = (dir: string): boolean => !closed.has(dir);
  const hidden = hiddenRoots(
    ['/root/.plinth', '/root'],
    ['/root/.plinth/deployments/d1/app', '/root/.pyenv/versions/3.11.7', '/usr', '/tmp/scratch-0700/app'],
    crossable,
  );
  assert.deepEqual(hidden.sort(), ['/root', '/root/.plinth', '/tmp/scratch-0700']);
  const steps = planMounts(hidden, [
    { path: '/root/.plinth/deployments/d1/app' },
    { path: '/root/.pyenv/versions/3.11.7' },
    { path: '/tmp/scratch-0700/app' },
  ]);
  // /root/.plinth is inside /root, already covered: one cover for both.
  assert.deepEqual(steps, [
    { kind: 'tmpfs', path: '/root' },
    { kind: 'tmpfs', path: '/tmp/scratch-0700' },
    { kind: 'bind', path: '/tmp/scratch-0700/app', writable: false },
    { kind: 'bind', path: '/root/.pyenv/versions/3.11.7', writable: false },
    { kind: 'bind', path: '/root/.plinth/deployments/d1/app', writable: false },
  ]);
  assert.deepEqual(
    hiddenRoots(['/'], ['/a/b'], () => true),
    [],
    'never the root directory',
  );
});

test('a hidden directory inside a kept one is covered again after the kept one comes back', () => {
  // The package root is under $HOME and the Plinth home is inside the package root.
  const steps = planMounts(
    ['/home/ann', '/home/ann/plinth/.home'],
    [
      { path: '/home/ann/plinth' },
      { path: '/home/ann/plinth/.home/deployments/d1/app' },
      { path: '/home/ann/plinth/src' },
    ],
  );
  assert.deepEqual(steps, [
    { kind: 'tmpfs', path: '/home/ann' },
    { kind: 'bind', path: '/home/ann/plinth', writable: false },
    { kind: 'tmpfs', path: '/home/ann/plinth/.home' },
    { kind: 'bind', path: '/home/ann/plinth/.home/deployments/d1/app', writable: false },
  ]);
});

test('what must not be written is bound read-only onto itself even where nothing covers it', () => {
  assert.deepEqual(
    planMounts(['/srv/plinth-home'], [{ path: '/opt/plinth', always: true }, { path: '/usr' }]),
    [
      { kind: 'tmpfs', path: '/srv/plinth-home' },
      { kind: 'bind', path: '/opt/plinth', writable: false },
    ],
  );
});

test('the mount script refuses the server namespace, opens what it keeps first, and binds with one mount per run', () => {
  const steps = planMounts([HOME], [{ path: APP }, { path: `${APP}.home`, writable: true }]);
  const { script, args, tables } = mountScript(steps, 4242, (i) => `/run/t${i}`);
  assert.deepEqual(args, ['4242', APP, `${APP}.home`, '/run/t0', HOME]);
  assert.ok(!script.includes(HOME), 'paths are arguments, not script text');
  assert.deepEqual(script.split('\n'), [
    'set -eu',
    '[ ! /proc/self/ns/mnt -ef "/proc/$1/ns/mnt" ] || { echo "refused: this is the server\'s own mount namespace" >&2; exit 1; }',
    'exec 3<"${2}" 4<"${3}" 5<"${4}"',
    'umask 022',
    'mount -t tmpfs -o mode=0755,size=1m,nr_inodes=4096,nosuid,nodev plinth-hidden "${5}"',
    'mount --no-canonicalize -a -T /proc/self/fd/5',
  ]);
  assert.deepEqual(tables, [
    {
      path: '/run/t0',
      content: `/proc/self/fd/3 ${APP} none bind,X-mount.mkdir,ro 0 0\n/proc/self/fd/4 ${APP}.home none bind,X-mount.mkdir 0 0\n`,
    },
  ]);
  const odd = mountScript([{ kind: 'bind', path: '/a b\\c', writable: false }], 1, () => '/t');
  assert.equal(odd.tables[0]!.content, '/proc/self/fd/3 /a\\040b\\134c none bind,X-mount.mkdir,ro 0 0\n');
  assert.throws(
    () =>
      mountScript(
        Array.from({ length: 7 }, (_, i) => ({ kind: 'bind', path: `/k${i}`, writable: false })),
        1,
        () => '/t',
      ),
    /at most 7 descriptors; these 8/,
  );
});

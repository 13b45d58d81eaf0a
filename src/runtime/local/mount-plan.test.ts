import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hiddenRoots, mountScript, planMounts } from './mount-plan.ts';

const HOME = '/srv/plinth';
const APP = `${HOME}/deployments/d1/app`;
const ENV = `${HOME}/environments/python-abc`;
const PARENT = `${HOME}/run/replicas/r1.parent`;

test('the home is covered and only the paths the replica needs come back, shallow first', () => {
  const steps = planMounts(
    [HOME],
    [
      { path: APP, file: false },
      { path: ENV, file: false },
      { path: `${APP}.home`, file: false, writable: true },
      { path: PARENT, file: true },
      { path: '/usr', file: false },
    ],
  );
  assert.deepEqual(steps, [
    { kind: 'tmpfs', path: HOME },
    { kind: 'bind', path: ENV, file: false, writable: false },
    { kind: 'bind', path: APP, file: false, writable: false },
    { kind: 'bind', path: `${APP}.home`, file: false, writable: true },
    { kind: 'bind', path: PARENT, file: true, writable: false },
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
    { path: '/root/.plinth/deployments/d1/app', file: false },
    { path: '/root/.pyenv/versions/3.11.7', file: false },
    { path: '/tmp/scratch-0700/app', file: false },
  ]);
  // /root/.plinth is inside /root, already covered: one cover for both.
  assert.deepEqual(steps, [
    { kind: 'tmpfs', path: '/root' },
    { kind: 'tmpfs', path: '/tmp/scratch-0700' },
    { kind: 'bind', path: '/tmp/scratch-0700/app', file: false, writable: false },
    { kind: 'bind', path: '/root/.pyenv/versions/3.11.7', file: false, writable: false },
    { kind: 'bind', path: '/root/.plinth/deployments/d1/app', file: false, writable: false },
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
      { path: '/home/ann/plinth', file: false },
      { path: '/home/ann/plinth/.home/deployments/d1/app', file: false },
      { path: '/home/ann/plinth/src', file: false },
    ],
  );
  assert.deepEqual(steps, [
    { kind: 'tmpfs', path: '/home/ann' },
    { kind: 'bind', path: '/home/ann/plinth', file: false, writable: false },
    { kind: 'tmpfs', path: '/home/ann/plinth/.home' },
    { kind: 'bind', path: '/home/ann/plinth/.home/deployments/d1/app', file: false, writable: false },
  ]);
});

test('what must not be written is bound read-only onto itself even where nothing covers it', () => {
  assert.deepEqual(
    planMounts(
      ['/srv/plinth-home'],
      [
        { path: '/opt/plinth', file: false, always: true },
        { path: '/usr', file: false },
      ],
    ),
    [
      { kind: 'tmpfs', path: '/srv/plinth-home' },
      { kind: 'bind', path: '/opt/plinth', file: false, writable: false },
    ],
  );
});

test('the mount script refuses the server namespace and opens every kept path before covering anything', () => {
  const steps = planMounts(
    [HOME],
    [
      { path: APP, file: false },
      { path: PARENT, file: true },
    ],
  );
  const { script, args } = mountScript(steps, 4242);
  assert.deepEqual(args, ['4242', HOME, APP, PARENT, `${HOME}/run/replicas`]);
  assert.ok(!script.includes(HOME), 'paths are arguments, not script text');
  const lines = script.split('\n');
  assert.equal(
    lines[1],
    '[ ! /proc/self/ns/mnt -ef "/proc/$1/ns/mnt" ] || { echo "refused: this is the server\'s own mount namespace" >&2; exit 1; }',
  );
  const open = lines.indexOf('exec 3<"${3}" 4<"${4}"');
  const cover = lines.findIndex((l) => l.startsWith('mount -t tmpfs') && l.endsWith('"${2}"'));
  assert.ok(open !== -1 && open < cover, script);
  assert.deepEqual(lines.slice(cover + 1), [
    'mkdir -p "${3}" "${5}"',
    'mount --no-canonicalize --bind -o ro /proc/self/fd/3 "${3}"',
    '[ -e "${4}" ] || : > "${4}"',
    'mount --no-canonicalize --bind -o ro /proc/self/fd/4 "${4}"',
  ]);
  assert.throws(
    () =>
      mountScript(
        Array.from({ length: 8 }, (_, i) => ({ kind: 'bind', path: `/k${i}`, file: false, writable: false })),
        1,
      ),
    /at most 7 paths/,
  );
});

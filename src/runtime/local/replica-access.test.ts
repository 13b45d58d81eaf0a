import { scratchDir } from '../../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  closeAppDir,
  gateAppDir,
  openEnvironment,
  openToOthers,
  prepareReplicaHome,
  replicaHomeOf,
} from './replica-access.ts';

const root = scratchDir('replica-access');
const mode = (p: string): number => statSync(p).mode & 0o7777;
const asRoot = process.getuid?.() === 0;

test('what a replica user must read becomes readable to others; executables and directories crossable', async () => {
  const dir = join(root, 'env');
  mkdirSync(join(dir, 'lib'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'lib', 'mod.py'), 'x', { mode: 0o600 });
  writeFileSync(join(dir, 'lib', 'tool'), 'x', { mode: 0o700 });
  await openEnvironment(dir);
  assert.equal(mode(join(dir, 'lib')), 0o705);
  assert.equal(mode(join(dir, 'lib', 'mod.py')), 0o604);
  assert.equal(mode(join(dir, 'lib', 'tool')), 0o705);
  writeFileSync(join(dir, 'lib', 'later.py'), 'x', { mode: 0o600 });
  await openEnvironment(dir);
  assert.equal(mode(join(dir, 'lib', 'later.py')), 0o600, 'an environment is opened once (it never changes)');
  await openToOthers(join(dir, 'lib', 'later.py'));
  assert.equal(mode(join(dir, 'lib', 'later.py')), 0o604);
});

test(
  "the app directory is open to its deployment's group only; the replica owns its home",
  { skip: !asRoot },
  async () => {
    const app = join(root, 'deployments', 'd1', 'app');
    mkdirSync(join(app, 'model'), { recursive: true });
    writeFileSync(join(app, 'model', 'model.py'), 'x', { mode: 0o600 });
    const owner = { uid: 0x7000_0005, gid: 0x7000_0005 };
    await gateAppDir(app, owner, new Set());
    assert.equal(mode(app), 0o750);
    assert.equal(statSync(app).gid, owner.gid);
    assert.equal(statSync(app).uid, 0);
    assert.equal(mode(join(app, 'model', 'model.py')), 0o604);
    const home = replicaHomeOf(app);
    assert.equal(home, `${app}.home`);
    await prepareReplicaHome(home, owner);
    writeFileSync(join(home, 'cache'), 'x');
    assert.equal(mode(home), 0o700);
    assert.equal(statSync(home).uid, owner.uid);
    // The deployment's uid moved (its slot was taken meanwhile): everything in its home follows.
    const moved = { uid: 0x7000_0006, gid: 0x7000_0006 };
    await prepareReplicaHome(home, moved);
    assert.equal(statSync(join(home, 'cache')).uid, moved.uid);
  },
);

test(
  "a deployment's app directory and home close again with its last replica, so the next holder of its uid finds them shut",
  { skip: !asRoot },
  async () => {
    const app = join(root, 'deployments', 'd2', 'app');
    mkdirSync(join(app, 'model'), { recursive: true });
    const owner = { uid: 0x7000_0007, gid: 0x7000_0007 };
    await gateAppDir(app, owner, new Set());
    await prepareReplicaHome(replicaHomeOf(app), owner);
    closeAppDir(app);
    for (const dir of [app, replicaHomeOf(app)]) {
      assert.equal(mode(dir), 0o700, dir);
      assert.deepEqual([statSync(dir).uid, statSync(dir).gid], [0, 0], dir);
    }
    // The next start opens them to the uid it has then.
    await gateAppDir(app, owner, new Set());
    assert.equal(statSync(app).gid, owner.gid);
  },
);

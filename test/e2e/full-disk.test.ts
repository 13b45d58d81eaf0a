// e2e: a server whose disk fills up answers a push with one clear 507 INSUFFICIENT_STORAGE (not a
// 500, not "invalid bundle"), keeps serving what it serves, and takes pushes again once there is
// room. The home is a small tmpfs of its own (skipped where mount is not allowed).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { emptyDisk, fillDisk, mountSmallDisk, unmount } from '../support/small-disk.ts';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from './harness.ts';

test('a full disk makes a push a clear 507, the model serves on, and pushes work again once there is room', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-e2e-disk-'));
  const home = join(root, 'home');
  mkdirSync(home);
  const why = await mountSmallDisk(home, 64);
  if (why) {
    rmSync(root, { recursive: true, force: true });
    return t.skip(why);
  }
  const platform = await startPlatform(home);
  try {
    const model = (v: number): string => `export class Model { predict() { return { v: ${v} }; } }\n`;
    const dir = writeTree(join(root, 'm'), {
      'config.yaml': 'model_name: disky\n',
      'model/model.ts': model(1),
    });
    assert.equal((await platform.cli(['push', dir])).code, 0);
    fillDisk(home);
    writeTree(dir, { 'model/model.ts': model(2), 'data/weights.bin': 'w'.repeat(1024 * 1024) });
    const full = await platform.cli(['push', dir]);
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /disk is full/, full.stderr);
    const answer = await fetch(`${platform.url}/models/disky/production/predict`, {
      method: 'POST',
      body: '{}',
    });
    assert.deepEqual(await answer.json(), { v: 1 }, 'what it served before still answers');
    emptyDisk(home);
    const again = await platform.cli(['push', dir, '--promote']);
    assert.equal(again.code, 0, again.stderr);
  } finally {
    await platform.stop({ keepHome: true });
    await unmount(home);
    rmSync(root, { recursive: true, force: true });
  }
});

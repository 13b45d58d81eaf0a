// The standby pool keeps itself full: a waiting model server that ends (killed, or out of memory)
// is replaced, so that the next start still finds one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '../../../test/support/wait.ts';
import { baseEnv, nodeReplicaCommand } from './launch.ts';
import { ReplicaFiles } from './replica-files.ts';
import { StandbyPool } from './standby-pool.ts';

test('an idle standby that ends is replaced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-standby-'));
  const pool = new StandbyPool(1, nodeReplicaCommand, baseEnv, new ReplicaFiles(dir));
  try {
    pool.fill();
    const first = pool.take()!;
    // Taken: the pool refills at once; then the one waiting now is killed while idle.
    first.child.kill('SIGKILL');
    await until(
      'a standby waits again',
      () => pool.waiting(),
      (n) => n === 1,
      10_000,
      50,
    );
    const waiting = pool.peek()!;
    await waiting.booted;
    waiting.child.kill('SIGKILL');
    await until(
      'the killed one is gone',
      () => waiting.child.exitCode !== null || waiting.child.signalCode !== null,
      Boolean,
      10_000,
      20,
    );
    await until(
      'and replaced',
      () => pool.peek()?.child.pid,
      (pid) => pid !== undefined && pid !== waiting.child.pid,
      10_000,
      50,
    );
    const next = pool.take();
    assert.ok(next, 'the next start finds a standby');
    await next.booted;
    next.child.kill('SIGKILL');
  } finally {
    pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// A full disk ends neither the server nor a replica: what the local backend writes for itself (a
// replica's record, a standby's files) is retried, and a start that needs the disk fails alone.
import { isAlive } from '../../../test/support/process-alive.ts';
import { jsModelSpec } from '../../../test/support/replica-specs.ts';
import { emptyDisk, fillDisk, mountSmallDisk, unmount } from '../../../test/support/small-disk.ts';
import { sleep, until } from '../../../test/support/wait.ts';
import { callReplica } from '../../../test/support/call-replica.ts';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ReplicaEvent } from '../backend.ts';
import { LocalBackend } from './local-backend.ts';

const PRINTS =
  'export class Model { predict(input) { console.log(`predicted ${input.n}`); return { pid: process.pid }; } }';

function adopted(backend: LocalBackend): LocalBackend {
  backend.adopt();
  return backend;
}

/** Exceptions thrown where no one catches them (from a timer, say) would end a real server: here they are counted. */
function catchUncaught(): { thrown: unknown[]; stop: () => void } {
  const thrown: unknown[] = [];
  const onThrown = (err: unknown): void => void thrown.push(err);
  process.on('uncaughtException', onThrown);
  return { thrown, stop: () => process.off('uncaughtException', onThrown) };
}

test('a record that cannot be written (a full disk) ends neither the server nor a stop: the replica runs, is followed and stopped, and its record is written once it can be', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-full-disk-'));
  const run = join(root, 'run');
  const lines: string[] = [];
  const { thrown, stop } = catchUncaught();
  const backend = adopted(
    new LocalBackend({ onLog: (_spec, _stream, line) => lines.push(line), runDir: run, nodeStandbys: 0 }),
  );
  // A link to nowhere where a record's temporary file goes: every write of that record fails, as
  // on a full disk.
  const block = (): void => symlinkSync(join(root, 'no-such-dir', 'file'), join(run, 'r-full.json.tmp'));
  const unblock = (): void => rmSync(join(run, 'r-full.json.tmp'), { force: true });
  try {
    block();
    const ready = new Promise<ReplicaEvent>((resolve) =>
      backend.watch((e) => e.type === 'ready' && resolve(e)),
    );
    const handle = await backend.start(
      jsModelSpec(join(root, 'r-full'), PRINTS, { replicaId: 'r-full', deploymentId: 'd-full' }),
    );
    const { replica } = await ready;
    const call = async (n: number) => (await callReplica(replica, { n })).status;
    assert.equal(await call(1), 200);
    await until('its output followed', () => lines.includes('predicted 1'), Boolean, 15_000, 50);
    await sleep(1500); // how far its output was followed is saved every second
    assert.deepEqual(thrown, [], 'nothing thrown where no one catches it');
    assert.equal(existsSync(join(run, 'r-full.json')), false);

    unblock();
    await until(
      'its record written once it can be',
      () => existsSync(join(run, 'r-full.json')),
      Boolean,
      5000,
      50,
    );

    block();
    await backend.stop('r-full', { drainMs: 1000 });
    assert.equal(isAlive(handle.pid!), false, 'stopped although its record could not say so');
    assert.deepEqual(thrown, []);
  } finally {
    stop();
    await backend.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a full disk while the standby pool refills ends neither the server nor the next start', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-full-standby-'));
  const run = join(root, 'run');
  mkdirSync(run);
  const why = await mountSmallDisk(run, 8);
  if (why) {
    rmSync(root, { recursive: true, force: true });
    return t.skip(why);
  }
  const { thrown, stop } = catchUncaught();
  const backend = adopted(new LocalBackend({ onLog: () => {}, runDir: run, nodeStandbys: 1 }));
  try {
    await sleep(1500); // the pool's standby boots
    fillDisk(run);
    // This start takes the standby; the pool refills onto the full disk.
    const first = new Promise<ReplicaEvent>((resolve) =>
      backend.watch((e) => e.replica.id === 'r-1' && e.type !== 'pending' && resolve(e)),
    );
    await backend
      .start(jsModelSpec(join(root, 'r-1'), PRINTS, { replicaId: 'r-1', deploymentId: 'd-1' }))
      .catch(() => undefined);
    await first;
    await sleep(1500);
    assert.deepEqual(thrown, [], 'nothing thrown where no one catches it');

    emptyDisk(run);
    const ready = new Promise<ReplicaEvent>((resolve) =>
      backend.watch((e) => e.replica.id === 'r-2' && e.type === 'ready' && resolve(e)),
    );
    await backend.start(jsModelSpec(join(root, 'r-2'), PRINTS, { replicaId: 'r-2', deploymentId: 'd-2' }));
    const { replica } = await ready;
    assert.equal((await callReplica(replica, { n: 1 })).status, 200);
    assert.deepEqual(thrown, []);
  } finally {
    stop();
    await backend.close();
    await unmount(run);
    rmSync(root, { recursive: true, force: true });
  }
});

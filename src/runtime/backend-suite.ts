// The shared RuntimeBackend test suite: every backend (local and kubernetes) must pass it.
import { sleep } from '../../test/support/wait.ts';
import { callReplica } from '../../test/support/call-replica.ts';
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ReplicaEvent, ReplicaSpec, RuntimeBackend } from './backend.ts';

export interface BackendFixture {
  backend: RuntimeBackend;
  /** A spec for a replica running this JavaScript model source. */
  specFor(source: string, deploymentId?: string): ReplicaSpec;
  cleanup(): Promise<void>;
}

const SLOW_MODEL = `
export class Model {
  async load() { await new Promise((r) => setTimeout(r, 100)); }
  async predict(input) {
    if (input.crash) process.exit(7);
    await new Promise((r) => setTimeout(r, input.sleepMs ?? 0));
    return { echo: input.value };
  }
}`;

/** The next event of `backend` that matches (subscribe before causing it). */
export function waitFor(
  backend: RuntimeBackend,
  match: (e: ReplicaEvent) => boolean,
  timeoutMs = 20000,
): Promise<ReplicaEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error('timed out waiting for a replica event'));
    }, timeoutMs);
    const stop = backend.watch((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      stop();
      resolve(e);
    });
  });
}

export function runBackendSuite(name: string, makeFixture: () => Promise<BackendFixture>): void {
  describe(`RuntimeBackend: ${name}`, () => {
    let fx: BackendFixture;
    beforeEach(async () => {
      fx = await makeFixture();
    });
    afterEach(async () => {
      await fx.backend.close();
      await fx.cleanup();
    });

    test('a started replica becomes ready, is listed, and serves', async () => {
      const spec = fx.specFor(SLOW_MODEL, 'd-one');
      const ready = waitFor(fx.backend, (e) => e.type === 'ready' && e.replica.id === spec.replicaId);
      const handle = await fx.backend.start(spec);
      assert.equal(handle.phase, 'STARTING');
      const event = await ready;
      assert.equal(event.replica.phase, 'READY');
      const listed = fx.backend.list('d-one');
      assert.deepEqual(
        listed.map((r) => [r.id, r.phase]),
        [[spec.replicaId, 'READY']],
      );
      assert.deepEqual(fx.backend.list('d-other'), []);
      const res = await callReplica(listed[0]!, { value: 42 });
      assert.deepEqual(await res.json(), { echo: 42 });
      assert.ok(fx.backend.capacity().cpu >= 1);
    });

    test('stop drains: a request in flight finishes before the replica exits', async () => {
      const spec = fx.specFor(SLOW_MODEL);
      const ready = waitFor(fx.backend, (e) => e.type === 'ready');
      await fx.backend.start(spec);
      const { replica } = await ready;
      const slow = callReplica(replica, { value: 'late', sleepMs: 400 });
      await sleep(100);
      const exited = waitFor(fx.backend, (e) => e.type === 'exited');
      await fx.backend.stop(spec.replicaId, { drainMs: 5000 });
      assert.deepEqual(await (await slow).json(), { echo: 'late' });
      const event = await exited;
      assert.equal(event.type === 'exited' && event.exit.expected, true);
      assert.deepEqual(fx.backend.list(), []);
    });

    test("stop marks the replica draining at once, and signals it only once the caller's requests are done", async () => {
      const spec = fx.specFor(SLOW_MODEL);
      const ready = waitFor(fx.backend, (e) => e.type === 'ready');
      await fx.backend.start(spec);
      const { replica } = await ready;
      let done!: () => void;
      const drained = new Promise<void>((resolve) => (done = resolve));
      const draining = waitFor(fx.backend, (e) => e.type === 'draining' && e.replica.id === spec.replicaId);
      let exited = false;
      const stopped = fx.backend
        .stop(spec.replicaId, { drainMs: 20_000, drained })
        .then(() => (exited = true));
      await draining;
      assert.equal(fx.backend.list()[0]?.phase, 'DRAINING');
      // Until the caller says its requests are done, the replica is not asked to stop: it still answers.
      await sleep(300);
      assert.equal(exited, false);
      assert.deepEqual(await (await callReplica(replica, { value: 'still here' })).json(), {
        echo: 'still here',
      });
      done();
      await stopped;
      assert.deepEqual(fx.backend.list(), []);
    });

    test("a caller's drain that never ends holds a stop no longer than the drain time", async () => {
      const spec = fx.specFor(SLOW_MODEL);
      const ready = waitFor(fx.backend, (e) => e.type === 'ready');
      await fx.backend.start(spec);
      await ready;
      await fx.backend.stop(spec.replicaId, { drainMs: 300, drained: new Promise<void>(() => {}) });
      assert.deepEqual(fx.backend.list(), []);
    });

    test('a replica that outstays the drain period is killed', async () => {
      const spec = fx.specFor(`export class Model { predict() { return 1; } }
process.on('SIGTERM', () => {});`);
      const ready = waitFor(fx.backend, (e) => e.type === 'ready');
      await fx.backend.start(spec);
      await ready;
      await fx.backend.stop(spec.replicaId, { drainMs: 300 });
      assert.deepEqual(fx.backend.list(), []);
    });

    test("a load() that throws exits with the model's own message", async () => {
      const spec = fx.specFor(
        `export class Model { load() { throw new Error('no weights at /data/w.bin'); } predict() {} }`,
      );
      const exited = waitFor(fx.backend, (e) => e.type === 'exited');
      await fx.backend.start(spec);
      const event = await exited;
      assert.ok(event.type === 'exited');
      assert.equal(event.exit.expected, false);
      assert.equal(event.exit.wasReady, false);
      assert.equal(event.exit.reason, 'load() failed: no weights at /data/w.bin');
    });

    test('a crash while serving is reported as unexpected', async () => {
      const spec = fx.specFor(SLOW_MODEL);
      const ready = waitFor(fx.backend, (e) => e.type === 'ready');
      await fx.backend.start(spec);
      const { replica } = await ready;
      const exited = waitFor(fx.backend, (e) => e.type === 'exited');
      await callReplica(replica, { crash: true }).catch(() => undefined);
      const event = await exited;
      assert.ok(event.type === 'exited');
      assert.equal(event.exit.expected, false);
      assert.equal(event.exit.wasReady, true);
      assert.match(event.exit.reason, /exited with code 7/);
    });
  });
}

// ReplicaTermination over a real SQLite store: a live replica is stopped once (a repeat while it
// drains stops nothing more) and the reconciler is kicked; what the store alone knows answers as
// it is — ended, stopping, or run by another control plane; a replica of nobody, or of another
// deployment, is not found. The backend and stopper here only record what they were asked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { PlinthError } from '../domain/errors.ts';
import type { ReplicaRecord } from '../domain/types.ts';
import type { ReplicaHandle } from '../runtime/backend.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { ReplicaTermination } from './replica-termination.ts';

async function setUp() {
  const store = await openSqliteStore(':memory:');
  const model = await store.createModel('m');
  const d = await store.createDeployment(deploymentInput(model.id, { status: 'ACTIVE' }));
  const other = await store.createDeployment(deploymentInput(model.id, { name: 'deployment-2' }));
  const live: ReplicaHandle[] = [];
  const stopped: string[] = [];
  const logged: string[] = [];
  let kicks = 0;
  const termination = new ReplicaTermination({
    store,
    backend: { list: (id) => live.filter((r) => id === undefined || r.deploymentId === id) },
    // As both backends do, the replica is DRAINING as soon as its stop begins.
    stopper: {
      stop: async (r) => {
        stopped.push(r.id);
        live.find((h) => h.id === r.id)!.phase = 'DRAINING';
      },
    },
    logs: { write: (_target, _source, _level, message) => void logged.push(message) },
    kick: () => void kicks++,
  });
  const record = (id: string, status: ReplicaRecord['status'], deploymentId = d.id): Promise<void> =>
    store.upsertReplica({
      id,
      deployment_id: deploymentId,
      status,
      address: null,
      started_at: new Date(0).toISOString(),
      stopped_at: status === 'STOPPED' ? new Date(1000).toISOString() : null,
      exit_reason: status === 'STOPPED' ? 'stopped by the platform' : null,
      revision: 0,
    });
  const handle = (id: string, deploymentId = d.id): ReplicaHandle => ({
    id,
    deploymentId,
    phase: 'READY',
    address: '127.0.0.1:1',
    startedAtMs: 0,
    readyAtMs: 0,
    exit: null,
    instanceType: '1x2',
    revision: 0,
    gpus: [],
  });
  return { store, d, other, live, stopped, logged, kicks: () => kicks, termination, record, handle };
}

const notFound = (err: unknown) => err instanceof PlinthError && err.code === 'REPLICA_NOT_FOUND';

test('a live replica is stopped once, the reconciler kicked; a repeat answers DRAINING', async () => {
  const t = await setUp();
  t.live.push(t.handle('raaaaaaa'), t.handle('rbbbbbbb'));
  const first = await t.termination.terminate(t.d, 'raaaaaaa', 'ci');
  assert.equal(first.outcome, 'stopping');
  assert.equal(first.startedNow, true);
  assert.equal(first.live?.phase, 'DRAINING');
  assert.equal(first.record.status, 'DRAINING');
  const again = await t.termination.terminate(t.d, 'raaaaaaa', 'ci');
  assert.deepEqual([again.outcome, again.startedNow, again.record.status], ['stopping', false, 'DRAINING']);
  assert.deepEqual(t.stopped, ['raaaaaaa']);
  assert.equal(t.kicks(), 1);
  assert.deepEqual(t.logged, [
    'replica raaaaaaa terminated by API key "ci": draining (a replacement starts if the deployment still wants it)',
  ]);
  assert.equal(t.live.find((r) => r.id === 'rbbbbbbb')!.phase, 'READY');
  await t.store.close();
});

test('what only the store knows: ended, just exited, or run by another control plane', async () => {
  const t = await setUp();
  await t.record('rsssssss', 'STOPPED');
  await t.record('rddddddd', 'DRAINING');
  await t.record('rrrrrrrr', 'READY');
  const ended = await t.termination.terminate(t.d, 'rsssssss', 'ci');
  assert.deepEqual([ended.outcome, ended.record.status, ended.live], ['ended', 'STOPPED', undefined]);
  const draining = await t.termination.terminate(t.d, 'rddddddd', 'ci');
  assert.deepEqual([draining.outcome, draining.record.status], ['stopping', 'DRAINING']);
  await assert.rejects(
    t.termination.terminate(t.d, 'rrrrrrrr', 'ci'),
    (err) =>
      err instanceof PlinthError && err.code === 'CONFLICT' && /another control plane/.test(err.message),
  );
  assert.deepEqual(t.stopped, []);
  assert.equal(t.kicks(), 0);
  await t.store.close();
});

test('a replica of nobody, or of another deployment, is not found and is left alone', async () => {
  const t = await setUp();
  t.live.push(t.handle('rooooooo', t.other.id));
  await t.record('rppppppp', 'STOPPED', t.other.id);
  await assert.rejects(t.termination.terminate(t.d, 'rzzzzzzz', 'ci'), notFound);
  await assert.rejects(t.termination.terminate(t.d, 'rooooooo', 'ci'), notFound);
  await assert.rejects(t.termination.terminate(t.d, 'rppppppp', 'ci'), notFound);
  assert.deepEqual(t.stopped, []);
  assert.equal(t.live[0]!.phase, 'READY');
  await t.store.close();
});

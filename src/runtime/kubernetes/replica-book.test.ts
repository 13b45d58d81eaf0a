// The replica book's readiness: a ready replica whose pod leaves Ready (its readiness probe — the
// model's is_healthy() — failing) leaves routing, and comes back when the pod is Ready again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { ReplicaEvent } from '../backend.ts';
import { ReplicaBook } from './replica-book.ts';

function pod(ready: boolean): V1Pod {
  return {
    metadata: { name: 'plinth-d1-abc-x7k2p' },
    spec: { containers: [{ name: 'model' }] },
    status: {
      phase: 'Running',
      podIP: '10.4.2.17',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          name: 'model',
          image: 'plinth/runtime-python:0.1.0',
          imageID: '',
          ready,
          restartCount: 0,
          state: { running: { startedAt: new Date() } },
        },
      ],
    },
  };
}

/** A book holding one replica, and the events it tells. */
function oneReplica() {
  const book = new ReplicaBook({
    port: 8080,
    readinessIntervalMs: 10,
    onFailed: () => assert.fail('not a failure'),
    follow: null,
    onForget: () => {},
  });
  const events: ReplicaEvent[] = [];
  book.watch((e) => events.push(e));
  const replica = book.add(
    { id: 'r1', deploymentId: 'd1', instanceType: '1x2', revision: 1, startedAtMs: Date.now() },
    'g1',
    'm1',
  );
  return { book, events, replica };
}

test('a ready replica whose pod leaves Ready is taken out of routing, and comes back when it is Ready again', () => {
  const { book, events, replica } = oneReplica();
  book.bind(replica, pod(true));
  assert.deepEqual(
    events.map((e) => e.type),
    ['ready'],
  );
  book.observe(replica, pod(true));
  book.observe(replica, pod(false));
  assert.deepEqual(
    events.map((e) => e.type),
    ['ready', 'unready'],
  );
  assert.equal(book.get('r1')!.handle.phase, 'STARTING');
  assert.match((events[1] as { reason: string }).reason, /readiness probe .*is_healthy/);
  book.observe(replica, pod(false));
  assert.equal(events.length, 2, 'told once');
  book.observe(replica, pod(true));
  assert.deepEqual(
    events.map((e) => e.type),
    ['ready', 'unready', 'ready'],
  );
  assert.equal(book.get('r1')!.handle.phase, 'READY');
});

test("a replica the platform found ready before the kubelet did is not taken out by the pod's first status", () => {
  const { book, events, replica } = oneReplica();
  book.bind(replica, pod(false));
  // Its own probe of the model server answered first (markReady), the pod is not Ready yet.
  replica.handle.phase = 'READY';
  book.observe(replica, pod(false));
  assert.deepEqual(events, []);
});

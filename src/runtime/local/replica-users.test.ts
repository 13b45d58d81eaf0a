import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPLICA_UID_BASE, REPLICA_UID_SLOTS, ReplicaUsers } from './replica-users.ts';

test("a deployment's replicas share a uid in the replica range, the same from one start to the next", () => {
  const users = new ReplicaUsers();
  const uid = users.uidFor('d-one');
  assert.ok(uid >= REPLICA_UID_BASE && uid < REPLICA_UID_BASE + REPLICA_UID_SLOTS);
  assert.equal(new ReplicaUsers().uidFor('d-one'), uid, 'derived from the id: a restarted server agrees');
  users.hold('r-1', 'd-one', uid);
  assert.equal(users.uidFor('d-one'), uid);
  users.release('r-1');
  assert.equal(users.uidFor('d-one'), uid);
});

test('no two running deployments share a uid: the later one moves on to a free one', () => {
  const users = new ReplicaUsers();
  const a = users.uidFor('d-a');
  // Another deployment holds d-a's uid (as one adopted from a server that had to move it would).
  users.hold('r-x', 'd-x', a);
  const moved = users.uidFor('d-a');
  assert.notEqual(moved, a);
  assert.equal(moved, a + 1 === REPLICA_UID_BASE + REPLICA_UID_SLOTS ? REPLICA_UID_BASE : a + 1);
  users.hold('r-a', 'd-a', moved);
  assert.equal(users.uidFor('d-a'), moved, 'a running deployment keeps the uid its replicas have');
  const seen = new Set<number>([a, moved]);
  for (let i = 0; i < 200; i++) {
    const uid = users.uidFor(`d-${i}`);
    assert.ok(!seen.has(uid), `d-${i} got a uid already held`);
    users.hold(`r-${i}`, `d-${i}`, uid);
    seen.add(uid);
  }
});

test('releasing the last replica of a deployment says so', () => {
  const users = new ReplicaUsers();
  const uid = users.uidFor('d1');
  users.hold('r1', 'd1', uid);
  users.hold('r2', 'd1', uid);
  assert.equal(users.release('r1'), null);
  assert.equal(users.release('r2'), 'd1');
  assert.equal(users.release('r2'), null);
});

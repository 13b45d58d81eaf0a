// The state machine's table, enumerated: every legal move is listed here too, so that a change to
// the table is a change made on purpose; and the named questions agree with the table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEPLOYMENT_STATUSES,
  STATUS_MOVES,
  canMove,
  canWake,
  isAutoscaled,
  isFailed,
  isInactive,
  keepsReplicas,
  retryTarget,
} from './deployment-status.ts';
import type { DeploymentStatus } from './deployment-status.ts';

const PATCH_RETURNS =
  'DEPLOYING LOADING_MODEL ACTIVE SCALED_TO_ZERO WAKING_UP UNHEALTHY BUILD_FAILED DEPLOY_FAILED';

const EXPECTED: Record<DeploymentStatus, string> = {
  BUILDING: 'DEPLOYING BUILD_FAILED SCALED_TO_ZERO DEACTIVATING',
  DEPLOYING: 'LOADING_MODEL ACTIVE DEPLOY_FAILED UNHEALTHY UPDATING SCALED_TO_ZERO DEACTIVATING',
  LOADING_MODEL: 'ACTIVE DEPLOY_FAILED UNHEALTHY UPDATING SCALED_TO_ZERO DEACTIVATING',
  ACTIVE: 'UNHEALTHY DEPLOY_FAILED UPDATING SCALED_TO_ZERO DEACTIVATING',
  UPDATING: `${PATCH_RETURNS} DEACTIVATING`,
  SCALED_TO_ZERO: 'WAKING_UP BUILD_FAILED UPDATING DEACTIVATING',
  WAKING_UP: 'ACTIVE BUILD_FAILED UNHEALTHY DEPLOY_FAILED UPDATING SCALED_TO_ZERO DEACTIVATING',
  DEACTIVATING: 'INACTIVE DEPLOYING',
  INACTIVE: 'DEPLOYING',
  BUILD_FAILED: 'BUILDING UPDATING DEACTIVATING',
  DEPLOY_FAILED: 'DEPLOYING UPDATING DEACTIVATING',
  FAILED: 'DEPLOYING DEACTIVATING',
  UNHEALTHY: 'ACTIVE DEPLOYING DEPLOY_FAILED UPDATING SCALED_TO_ZERO DEACTIVATING',
};

test('the table holds exactly the moves listed here, each with why', () => {
  for (const from of DEPLOYMENT_STATUSES) {
    const moves = STATUS_MOVES[from];
    assert.deepEqual(Object.keys(moves).sort(), EXPECTED[from].split(' ').sort(), `moves from ${from}`);
    for (const [to, why] of Object.entries(moves)) {
      assert.ok(DEPLOYMENT_STATUSES.includes(to as DeploymentStatus), `${from} → ${to}: a known status`);
      assert.ok(why && why.length > 3, `${from} → ${to} says why`);
    }
  }
  for (const from of DEPLOYMENT_STATUSES) {
    for (const to of DEPLOYMENT_STATUSES) {
      const listed = from === to || EXPECTED[from].split(' ').includes(to);
      assert.equal(canMove(from, to), listed, `canMove(${from}, ${to})`);
    }
  }
});

/** Statuses reachable from `start` through the table. */
function reachable(start: DeploymentStatus): Set<DeploymentStatus> {
  const seen = new Set<DeploymentStatus>([start]);
  const todo = [start];
  while (todo.length > 0) {
    for (const to of Object.keys(STATUS_MOVES[todo.pop()!]) as DeploymentStatus[]) {
      if (!seen.has(to)) {
        seen.add(to);
        todo.push(to);
      }
    }
  }
  return seen;
}

test('a new deployment can reach every status but FAILED (kept for scripts; Plinth never enters it)', () => {
  const fromNew = reachable('BUILDING');
  assert.deepEqual(
    DEPLOYMENT_STATUSES.filter((s) => !fromNew.has(s)),
    ['FAILED'],
  );
});

test('no status is a dead end: every one can get back to ACTIVE and can be deactivated', () => {
  for (const s of DEPLOYMENT_STATUSES) {
    assert.ok(reachable(s).has('ACTIVE'), `${s} can become ACTIVE again`);
    assert.ok(reachable(s).has('INACTIVE'), `${s} can be made INACTIVE`);
  }
});

test('the named questions agree with the table', () => {
  assert.deepEqual(DEPLOYMENT_STATUSES.filter(canWake), ['SCALED_TO_ZERO']);
  for (const s of DEPLOYMENT_STATUSES) {
    if (canWake(s)) assert.ok(canMove(s, 'WAKING_UP'), `${s} can wake`);
    const retry = retryTarget(s);
    if (retry) assert.ok(canMove(s, retry) && retry !== s, `retry of ${s} is a legal move`);
    if (isFailed(s)) assert.ok(retry, `a failed ${s} can be retried`);
    if (isInactive(s)) assert.ok(canMove(s, 'DEPLOYING'), `an inactive ${s} can be activated`);
    if (isAutoscaled(s)) assert.ok(canMove(s, 'SCALED_TO_ZERO'), `the autoscaler may take ${s} to zero`);
    if (!isInactive(s)) assert.ok(canMove(s, 'DEACTIVATING'), `${s} can be deactivated`);
    // A failed or inactive deployment runs nothing; one at zero keeps its (zero) replicas.
    if (isFailed(s) || s === 'INACTIVE' || s === 'BUILDING') assert.equal(keepsReplicas(s), false, s);
  }
});

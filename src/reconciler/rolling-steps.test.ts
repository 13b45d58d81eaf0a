import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RollingDeployConfig, RollingState } from '../domain/types.ts';
import { reverseRolling, rollingBounds, startRolling, stepRolling } from './rolling-steps.ts';

/**
 * A small world driven by the steps: a replica asked for is ready one tick later, a stopped one is
 * gone one tick later. Records every tick's counts so that bounds can be checked over the whole run.
 */
function simulate(config: RollingDeployConfig, replicas: number, start?: RollingState) {
  let s = start ?? startRolling(config, replicas);
  let incoming = { ready: 0, starting: s.incoming_target };
  let outgoing = { ready: s.outgoing_target, draining: 0 };
  if (start) {
    incoming = { ready: start.incoming_target, starting: 0 };
    outgoing = { ready: start.outgoing_target, draining: 0 };
  }
  let percent = 0;
  const seen: { live: number; ready: number; percent: number }[] = [];
  for (let tick = 0, nowMs = 0; tick < 500; tick++, nowMs += 1000) {
    // The world moves: started replicas become ready, draining ones stop.
    incoming = { ready: incoming.ready + incoming.starting, starting: 0 };
    outgoing = { ready: outgoing.ready, draining: 0 };
    const step = stepRolling(s, {
      nowMs,
      incomingReady: incoming.ready,
      outgoingLive: outgoing.ready + outgoing.draining,
    });
    if (step) {
      s = step.rolling;
      if (step.incomingPercent !== undefined) percent = step.incomingPercent;
      const wantIn = s.incoming_target - incoming.ready - incoming.starting;
      if (wantIn > 0) incoming.starting += wantIn;
      const drop = outgoing.ready - s.outgoing_target;
      if (drop > 0) outgoing = { ready: s.outgoing_target, draining: drop };
      if (step.done) return { seen, done: true, final: s, percent };
    }
    seen.push({
      live: incoming.ready + incoming.starting + outgoing.ready + outgoing.draining,
      ready: incoming.ready + outgoing.ready,
      percent,
    });
  }
  return { seen, done: false, final: s, percent };
}

describe('rolling deploy steps', () => {
  it('with max_surge_percent 50 never runs more than 1.5× the replicas, nor fewer ready than the old count', () => {
    const config = { max_surge_percent: 50, max_unavailable_percent: 0, stabilization_time_seconds: 2 };
    for (const replicas of [2, 3, 4, 5, 10]) {
      const run = simulate(config, replicas);
      assert.ok(run.done, `${replicas} replicas: the rolling deploy finished`);
      assert.equal(run.percent, 100);
      for (const t of run.seen) {
        assert.ok(t.live <= replicas * 1.5, `${replicas}: ${t.live} live, more than 1.5×`);
        assert.ok(t.ready >= replicas, `${replicas}: only ${t.ready} ready`);
      }
      assert.ok(run.seen.some((t) => t.percent > 0 && t.percent < 100) || replicas === 1);
    }
  });

  it('with max_unavailable_percent only, removes before it adds and never exceeds the old count', () => {
    const config = { max_surge_percent: 0, max_unavailable_percent: 25, stabilization_time_seconds: 0 };
    const run = simulate(config, 8);
    assert.ok(run.done);
    for (const t of run.seen) {
      assert.ok(t.live <= 8, `${t.live} live`);
      assert.ok(t.ready >= 6, `${t.ready} ready`);
    }
  });

  it('one replica is replaced with one more beside it, never none ready', () => {
    for (const config of [
      { max_surge_percent: 50, max_unavailable_percent: 0, stabilization_time_seconds: 0 },
      { max_surge_percent: 0, max_unavailable_percent: 100, stabilization_time_seconds: 0 },
    ]) {
      const run = simulate(config, 1);
      assert.ok(run.done);
      for (const t of run.seen) assert.ok(t.live <= 2 && t.ready >= 1, JSON.stringify(t));
    }
  });

  it('never sends traffic to an incoming side that has no replicas', () => {
    const s = startRolling(
      { max_surge_percent: 0, max_unavailable_percent: 50, stabilization_time_seconds: 0 },
      4,
    );
    assert.equal(s.incoming_target, 0);
    const step = stepRolling(s, { nowMs: 0, incomingReady: 0, outgoingLive: 4 })!;
    assert.equal(step.incomingPercent, 0);
  });

  it('a small count that rounds both shares to zero still moves one replica at a time', () => {
    assert.deepEqual(
      rollingBounds({
        max_surge_percent: 0,
        max_unavailable_percent: 10,
        stabilization_time_seconds: 0,
        replicas: 3,
      }),
      {
        surge: 0,
        unavailable: 1,
      },
    );
    assert.deepEqual(
      rollingBounds({
        max_surge_percent: 10,
        max_unavailable_percent: 0,
        stabilization_time_seconds: 0,
        replicas: 3,
      }),
      {
        surge: 1,
        unavailable: 0,
      },
    );
  });

  it('waits the stabilization time between steps, and shifts traffic before the outgoing side shrinks', () => {
    const s0 = startRolling(
      { max_surge_percent: 50, max_unavailable_percent: 0, stabilization_time_seconds: 10 },
      2,
    );
    assert.equal(s0.incoming_target, 1);
    assert.equal(stepRolling(s0, { nowMs: 0, incomingReady: 0, outgoingLive: 2 }), null, 'not ready: wait');
    const ready = stepRolling(s0, { nowMs: 1000, incomingReady: 1, outgoingLive: 2 })!;
    assert.equal(ready.incomingPercent, 50, 'one of the two replicas the step ends with');
    assert.equal(ready.rolling.outgoing_target, 2, 'nothing removed before stability');
    assert.equal(stepRolling(ready.rolling, { nowMs: 10_999, incomingReady: 1, outgoingLive: 2 }), null);
    const shrink = stepRolling(ready.rolling, { nowMs: 11_000, incomingReady: 1, outgoingLive: 2 })!;
    assert.equal(shrink.rolling.outgoing_target, 1);
    assert.equal(
      stepRolling(shrink.rolling, { nowMs: 12_000, incomingReady: 1, outgoingLive: 2 }),
      null,
      'draining',
    );
    const grow = stepRolling(shrink.rolling, { nowMs: 13_000, incomingReady: 1, outgoingLive: 1 })!;
    assert.equal(grow.rolling.incoming_target, 2);
  });

  it('a ready replica lost mid-step restarts the step’s stability', () => {
    const s = {
      ...startRolling(
        { max_surge_percent: 100, max_unavailable_percent: 0, stabilization_time_seconds: 5 },
        1,
      ),
      stable_since: new Date(0).toISOString(),
    };
    const step = stepRolling(s, { nowMs: 3000, incomingReady: 0, outgoingLive: 1 })!;
    assert.equal(step.rolling.stable_since, null);
  });

  it('rolls back from where it stood: the previous deployment grows back, the candidate goes', () => {
    const config = { max_surge_percent: 50, max_unavailable_percent: 0, stabilization_time_seconds: 1 };
    const midway: RollingState = { ...startRolling(config, 4), incoming_target: 3, outgoing_target: 2 };
    const back = reverseRolling(midway);
    assert.equal(back.incoming_target, 2);
    assert.equal(back.outgoing_target, 3);
    const run = simulate(config, 4, back);
    assert.ok(run.done);
    assert.equal(run.final.incoming_target, 4);
    assert.equal(run.final.outgoing_target, 0);
    for (const t of run.seen) assert.ok(t.live <= 6 && t.ready >= 4, JSON.stringify(t));
  });
});

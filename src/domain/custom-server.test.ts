import assert from 'node:assert/strict';
import { test } from 'node:test';
import { customServerOf, DEFAULT_HEALTH, LivenessWatch, singleReplicaReason } from './custom-server.ts';

const server = (start_command: string, health_checks?: Record<string, number>) => ({
  docker_server: {
    start_command,
    server_port: 8000,
    predict_endpoint: '/predict',
    readiness_endpoint: '/health/ready',
    liveness_endpoint: '/health/live',
  },
  ...(health_checks ? { runtime: { health_checks } } : {}),
});

test('a model class has no custom server', () => {
  assert.equal(customServerOf({ model_name: 'x' }), null);
});

test('a command that takes $PORT gets a port per replica; one that does not is one replica per machine', () => {
  for (const command of [
    'uvicorn app:app --port $PORT',
    'python server.py --port=${PORT}',
    'vllm serve m --port ${PORT:-8000}',
    'sh -c "exec app $PORT"',
  ]) {
    const s = customServerOf(server(command))!;
    assert.equal(s.perReplicaPort, true, command);
    assert.equal(singleReplicaReason(s), null);
  }
  for (const command of ['uvicorn app:app --port 8000', 'echo $PORTAL', 'app --port=$PORT_NUMBER']) {
    const s = customServerOf(server(command))!;
    assert.equal(s.perReplicaPort, false, command);
    assert.match(singleReplicaReason(s)!, /fixed server_port 8000, so this machine runs one replica/);
  }
});

test('health thresholds come from runtime.health_checks, else the defaults', () => {
  assert.deepEqual(customServerOf(server('x $PORT'))!.health, DEFAULT_HEALTH);
  const s = customServerOf(
    server('x $PORT', {
      startup_threshold_seconds: 30,
      stop_traffic_threshold_seconds: 2,
      restart_threshold_seconds: 5,
    }),
  )!;
  assert.deepEqual(s.health, { startupS: 30, checkDelayS: 0, stopTrafficS: 2, restartS: 5 });
  assert.deepEqual(
    [s.predictPath, s.readinessPath, s.livenessPath, s.port],
    ['/predict', '/health/ready', '/health/live', 8000],
  );
});

test('liveness: failing takes a server out of routing, then replaces it; answering again brings it back', () => {
  const early = new LivenessWatch({ startupS: 60, checkDelayS: 10, stopTrafficS: 2, restartS: 5 }, 1000);
  assert.equal(early.observe(2000, false), 'serving');
  assert.equal(
    early.observe(4000, false),
    'out-of-routing',
    'traffic stops before restart_check_delay_seconds',
  );
  assert.equal(early.observe(8000, false), 'out-of-routing', 'but no restart before it (as Truss)');
  assert.equal(early.observe(11_000, false), 'replace');
  const watch = new LivenessWatch({ startupS: 60, checkDelayS: 10, stopTrafficS: 2, restartS: 5 }, 1000);
  assert.equal(watch.observe(11_000, false), 'serving', 'one failed probe is not yet a verdict');
  assert.equal(watch.observe(12_500, false), 'serving');
  assert.equal(watch.observe(13_000, false), 'out-of-routing');
  assert.equal(watch.observe(14_000, true), 'serving', 'it answers again');
  assert.equal(watch.observe(15_000, false), 'serving', 'the failing time starts over');
  assert.equal(watch.observe(17_000, false), 'out-of-routing');
  assert.equal(watch.observe(20_000, false), 'replace');
});

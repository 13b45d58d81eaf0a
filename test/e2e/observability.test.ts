// e2e: metrics and logs on the real server. After requests with known outcomes, the Prometheus
// counters and histogram counts and the series API match exactly, per deployment and per
// environment (and the series survive a restart); the summary and current modes count exactly
// what was sent; a client's request id lands on the model's own log lines (TypeScript and
// Python), by deployment and by environment; follow=true delivers a line printed after the stream
// opened; log filters return exactly the matching lines.
import { sleep } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-obs-'));
let tsDeployment: string;

const TS_MODEL = `export class Model {
  predict(input: { fail?: boolean; say?: string }) {
    if (input.say) console.log('model says ' + input.say);
    if (input.fail) throw new Error('asked to fail');
    return { ok: true };
  }
}\n`;
const PY_MODEL = `class Model:
    def predict(self, model_input):
        print("python says " + model_input.get("say", ""))
        return {"ok": True}
`;

before(async () => {
  platform = await startPlatform(join(scratch, 'home'));
  const ts = await platform.cli([
    'push',
    writeTree(join(scratch, 'obs'), { 'config.yaml': 'model_name: obs\n', 'model/model.ts': TS_MODEL }),
    '--output',
    'json',
  ]);
  assert.equal(ts.code, 0, ts.stderr);
  tsDeployment = (JSON.parse(ts.stdout) as { deployment_id: string }).deployment_id;
  const py = await platform.cli([
    'push',
    writeTree(join(scratch, 'obspy'), { 'config.yaml': 'model_name: obspy\n', 'model/model.py': PY_MODEL }),
  ]);
  assert.equal(py.code, 0, py.stderr);
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function call(path: string, body: unknown, requestId?: string): Promise<number> {
  const res = await fetch(`${platform.url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: requestId ? { 'x-request-id': requestId } : {},
  });
  await res.text();
  return res.status;
}

function sample(exposition: string, name: string, labels: Record<string, string>): number {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`)))
      return Number(line.split(' ').at(-1));
  }
  return 0;
}

interface SeriesPoint {
  requests: Record<string, number>;
  replica_seconds: Record<string, number>;
  cost: number | null;
}

async function totals(
  path: string,
): Promise<{ requests: Record<string, number>; replicaSeconds: number; cost: number | null }> {
  const r = await platform.api<{ points: SeriesPoint[] }>('GET', `${path}/metrics?since=10m&step=60`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const requests: Record<string, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  let replicaSeconds = 0;
  let cost: number | null = 0;
  for (const p of r.body.points) {
    for (const [k, v] of Object.entries(p.requests)) requests[k]! += v;
    for (const v of Object.values(p.replica_seconds)) replicaSeconds += v;
    cost = p.cost === null || cost === null ? null : cost + p.cost;
  }
  return { requests, replicaSeconds, cost };
}

test('counters, status classes and histogram counts match the requests sent, per deployment and per environment', async () => {
  const env = '/models/obs/environments/production/predict';
  const byDeployment = `/models/obs/deployment/${tsDeployment}/predict`;
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) statuses.push(await call(env, {}));
  for (let i = 0; i < 3; i++) statuses.push(await call(env, { fail: true }));
  for (let i = 0; i < 2; i++) statuses.push(await call(byDeployment, {}));
  assert.deepEqual(statuses, [...Array(7).fill(200), ...Array(3).fill(500), 200, 200]);

  const res = await fetch(`${platform.url}/metrics`);
  const text = await res.text();
  const base = { model_name: 'obs', deployment_id: tsDeployment };
  const production = { ...base, environment: 'production' };
  assert.equal(sample(text, 'plinth_inference_requests_total', { ...production, status_code: '200' }), 7);
  assert.equal(sample(text, 'plinth_inference_requests_total', { ...production, status_code: '500' }), 3);
  assert.equal(
    sample(text, 'plinth_inference_requests_total', { ...base, environment: '', status_code: '200' }),
    2,
  );
  for (const h of [
    'end_to_end_response_time_seconds',
    'time_to_first_byte_seconds',
    'queue_time_seconds',
    'request_size_bytes',
  ]) {
    assert.equal(sample(text, `plinth_${h}_count`, { ...production, status_code: '200' }), 7, h);
    assert.equal(sample(text, `plinth_${h}_count`, { ...production, status_code: '500' }), 3, h);
  }
  assert.equal(sample(text, 'plinth_replicas_active', { ...production }), 1);
  assert.match(text, /# TYPE plinth_cold_starts_total counter/);

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error)
    assert.fail(`promtool is needed for this test (Debian package prometheus): ${promtool.error.message}`);
  assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);

  const d = await totals(`/v1/models/obs/deployments/${tsDeployment}`);
  assert.deepEqual(
    d.requests,
    { '2xx': 9, '3xx': 0, '4xx': 0, '5xx': 3 },
    'the deployment counts every request',
  );
  const e = await totals('/v1/models/obs/environments/production');
  assert.deepEqual(e.requests, { '2xx': 7, '3xx': 0, '4xx': 0, '5xx': 3 }, 'the environment counts its URL');
  assert.ok(d.replicaSeconds >= 1, `replica-seconds are sampled (${d.replicaSeconds})`);
  assert.ok(d.cost !== null && d.cost > 0, 'a priced instance type gives a cost');

  const cli = await platform.cli(['metrics', '--model', 'obs', '--since', '10m', '--step', '600']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^TIME\s+REQ\/S\s+2XX\s+4XX\s+5XX/m);
  assert.match(cli.stdout, /\s7\s+0\s+3\s/, 'seven 2xx, three 5xx through production');

  // The series survive a restart of the server.
  await platform.stop({ keepHome: true });
  platform = await startPlatform(join(scratch, 'home'));
  const again = await totals(`/v1/models/obs/deployments/${tsDeployment}`);
  assert.deepEqual(again.requests, d.requests);
});

test("a client's request id is on the model's own log lines, in TypeScript and Python", async () => {
  assert.equal(await call('/models/obs/production/predict', { say: 'hello-ts' }, 'req-ts-1'), 200);
  assert.equal(await call('/models/obspy/production/predict', { say: 'hello-py' }, 'req-py-1'), 200);
  await sleep(300);
  for (const [model, id, text] of [
    ['obs', 'req-ts-1', 'model says hello-ts'],
    ['obspy', 'req-py-1', 'python says hello-py'],
  ] as const) {
    const r = await platform.api<{ logs: { message: string; request_id: string | null }[] }>(
      'GET',
      `/v1/models/${model}/deployments/production/logs?request_id=${id}`,
    );
    assert.deepEqual(
      r.body.logs.map((l) => [l.message, l.request_id]),
      [[text, id]],
      `${model}: exactly the line printed for that request, without the mark`,
    );
    const byEnvironment = await platform.api<{ logs: { message: string; deployment_id: string }[] }>(
      'GET',
      `/v1/models/${model}/environments/production/logs?request_id=${id}`,
    );
    assert.deepEqual(
      byEnvironment.body.logs.map((l) => l.message),
      [text],
      `${model}: the environment's logs are its deployment's`,
    );
  }
});

test('follow=true delivers a line the model prints after the stream opened', async () => {
  const controller = new AbortController();
  const res = await fetch(
    `${platform.url}/v1/models/obs/deployments/production/logs?follow=true&search=followed`,
    {
      headers: { authorization: `Api-Key ${platform.apiKey}` },
      signal: controller.signal,
    },
  );
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let seen = '';
  const opened = (async () => {
    while (!seen.includes(': following')) seen += decoder.decode((await reader.read()).value);
  })();
  await opened;
  assert.equal(await call('/models/obs/production/predict', { say: 'followed-line' }, 'req-follow'), 200);
  const deadline = Date.now() + 10_000;
  while (!seen.includes('model says followed-line') && Date.now() < deadline) {
    seen += decoder.decode((await reader.read()).value);
  }
  controller.abort();
  const event = seen.split('\n').find((l) => l.startsWith('data: ') && l.includes('followed-line'));
  assert.ok(event, `the line arrived as an event:\n${seen}`);
  const record = JSON.parse(event.slice(6)) as { message: string; request_id: string; level: string };
  assert.deepEqual(
    [record.message, record.request_id, record.level],
    ['model says followed-line', 'req-follow', 'INFO'],
  );
});

test('log filters return exactly the matching lines', async () => {
  const marker = `filter-${Date.now()}`;
  assert.equal(await call('/models/obs/production/predict', { say: `${marker}-a` }, 'req-f-a'), 200);
  assert.equal(
    await call('/models/obs/production/predict', { say: `${marker}-b`, fail: true }, 'req-f-b'),
    500,
  );
  await sleep(300);
  const logs = async (query: string) =>
    (
      await platform.api<{ logs: { message: string; level: string; request_id: string | null }[] }>(
        'GET',
        `/v1/models/obs/deployments/production/logs?${query}`,
      )
    ).body.logs;
  assert.deepEqual(
    (await logs(`search=${marker}`)).map((l) => l.message),
    [`model says ${marker}-a`, `model says ${marker}-b`],
  );
  const errors = await logs('level=ERROR&request_id=req-f-b');
  assert.match(errors[0]!.message, /^predict failed \(request req-f-b\): Error: asked to fail/);
  assert.ok(
    errors.every((l) => l.level === 'ERROR' && l.request_id === 'req-f-b'),
    'the stack lines that follow belong to the same request',
  );
  assert.deepEqual(await logs(`level=ERROR&search=${marker}`), [], 'the model lines are INFO');
  assert.deepEqual(await logs(`until=2000-01-01T00:00:00Z&search=${marker}`), []);
  assert.equal((await logs(`since=1m&search=${marker}`)).length, 2);
  const cli = await platform.cli(['logs', '--model', 'obs', '--request-id', 'req-f-a']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout.trim().split('\n').length, 1);
  assert.match(cli.stdout, new RegExp(`model says ${marker}-a`));
});

const MODES_MODEL = `export class Model {
  async predict(input: { fail?: boolean; waitMs?: number }) {
    if (input.waitMs) await new Promise((r) => setTimeout(r, input.waitMs));
    if (input.fail) throw new Error('asked to fail');
    return { ok: true };
  }
}\n`;

interface Latency {
  mean?: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

interface Summary {
  mode: string;
  requests_total: number;
  requests: Record<string, number>;
  errors: Record<string, number>;
  error_rate: number | null;
  latency_seconds: Latency;
  cold_starts: number;
  replica_seconds_total: number;
}

interface Current {
  mode: string;
  requests_in_flight: number;
  requests_queued: number;
  replicas_active: number;
  replicas_starting: number;
  window_seconds: number;
  requests: Record<string, number>;
  requests_per_second: number;
  latency_seconds: Latency;
  error_rate: number | null;
}

function ordered(l: Latency, what: string): void {
  assert.ok(l.p50 !== null && l.p50 > 0, `${what}: p50 ${l.p50}`);
  assert.ok(l.p50 <= l.p90! && l.p90! <= l.p99!, `${what}: p50 ≤ p90 ≤ p99 (${JSON.stringify(l)})`);
}

test('metrics modes: summary and current count exactly what was sent; an unknown mode is refused naming it', async () => {
  const dir = writeTree(join(scratch, 'modes'), {
    'config.yaml': 'model_name: modes\n',
    'model/model.ts': MODES_MODEL,
  });
  const push = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(push.code, 0, push.stderr);
  const deployment = (JSON.parse(push.stdout) as { deployment_id: string }).deployment_id;
  const env = '/models/modes/environments/production/predict';
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push(await call(env, {}));
  for (let i = 0; i < 2; i++) statuses.push(await call(env, { fail: true }));
  statuses.push(await call(`/models/modes/deployment/${deployment}/predict`, {}));
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 500, 500, 200]);
  const metrics = <T>(target: string, query: string) =>
    platform.api<T>('GET', `/v1/models/modes/${target}/metrics?${query}`);

  const envSummary = await metrics<Summary>('environments/production', 'mode=summary&since=10m');
  assert.equal(envSummary.status, 200, JSON.stringify(envSummary.body));
  assert.equal(envSummary.body.mode, 'summary');
  assert.equal(envSummary.body.requests_total, 8);
  assert.deepEqual(envSummary.body.requests, { '2xx': 6, '3xx': 0, '4xx': 0, '5xx': 2 });
  assert.deepEqual(envSummary.body.errors, { '4xx': 0, '5xx': 2 });
  assert.equal(envSummary.body.error_rate, 0.25);
  assert.equal(envSummary.body.cold_starts, 0, 'the push left a replica running');
  ordered(envSummary.body.latency_seconds, 'environment summary');
  assert.ok(envSummary.body.latency_seconds.mean! > 0);
  const depSummary = await metrics<Summary>(`deployments/${deployment}`, 'mode=summary&since=10m');
  assert.equal(depSummary.body.requests_total, 9, 'the deployment counts its own URL too');
  assert.deepEqual(depSummary.body.requests, { '2xx': 7, '3xx': 0, '4xx': 0, '5xx': 2 });

  const current = await metrics<Current>('environments/production', 'mode=current');
  assert.equal(current.status, 200, JSON.stringify(current.body));
  const c = current.body;
  assert.deepEqual(c.requests, { '2xx': 6, '3xx': 0, '4xx': 0, '5xx': 2 }, 'all sent within the last minute');
  assert.equal(c.requests_per_second, 8 / c.window_seconds);
  assert.ok(c.window_seconds > 0 && c.window_seconds <= 60);
  assert.equal(c.error_rate, 0.25);
  assert.deepEqual([c.requests_in_flight, c.requests_queued], [0, 0]);
  assert.deepEqual([c.replicas_active, c.replicas_starting], [1, 0]);
  ordered(c.latency_seconds, 'current');

  // A request in flight is counted while it runs, and no more once answered.
  const slow = call(env, { waitMs: 3000 });
  const during = await until(
    'the slow request is in flight',
    async () => (await metrics<Current>(`deployments/${deployment}`, 'mode=current')).body,
    (m) => m.requests_in_flight > 0,
    10_000,
  );
  assert.equal(during.requests_in_flight, 1);
  assert.equal(during.requests_queued, 0);
  assert.equal(await slow, 200);
  await until(
    'it is answered',
    async () => (await metrics<Current>(`deployments/${deployment}`, 'mode=current')).body,
    (m) => m.requests_in_flight === 0 && m.requests['2xx'] === 8,
    10_000,
  );

  const bad = await metrics<{ error: { code: string; message: string } }>(
    'environments/production',
    'mode=average',
  );
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'VALIDATION_ERROR');
  assert.match(
    bad.body.error.message,
    /field "mode": "average" is not a mode; expected one of current, summary, series/,
  );
  const series = await metrics<{ points: unknown[]; mode?: string }>(
    'environments/production',
    'since=10m&step=60',
  );
  assert.equal(series.body.points.length, 10, 'without a mode, the series as before');
  assert.equal(series.body.mode, undefined);

  const summaryCli = await platform.cli([
    'metrics',
    '--model',
    'modes',
    '--mode',
    'summary',
    '--since',
    '10m',
  ]);
  assert.equal(summaryCli.code, 0, summaryCli.stderr);
  assert.match(summaryCli.stdout, /^requests\s+9 \(2xx 7, 3xx 0, 4xx 0, 5xx 2\)$/m);
  const currentCli = await platform.cli([
    'metrics',
    '--model',
    'modes',
    '--mode',
    'current',
    '--output',
    'json',
  ]);
  assert.equal(currentCli.code, 0, currentCli.stderr);
  assert.equal((JSON.parse(currentCli.stdout) as Current).requests_in_flight, 0);
  const wrongCli = await platform.cli(['metrics', '--model', 'modes', '--mode', 'average']);
  assert.equal(wrongCli.code, 1);
  assert.match(wrongCli.stderr, /--mode average: expected one of series, summary, current/);
});

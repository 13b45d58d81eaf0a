// e2e: a Truss model that leans on Truss's server — fastapi.Request, Response and
// StreamingResponse returns, HTTPException, pydantic and numpy, streams that fail or stall,
// is_healthy() after start, setup_environment() on promotion — pushed and called as users do. Its
// model imports fastapi, pydantic and numpy without listing them (Truss's server environment).
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pushed, REPO, startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
let modelId = '';
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-truss-'));
const fixture = join(REPO, 'test', 'e2e', 'fixtures', 'truss-server');

before(async () => {
  platform = await startPlatform();
  modelId = (await push(fixture)).model_id;
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const push = (dir: string, ...extra: string[]) => pushed(platform, dir, ...extra);

function predict(body: unknown, headers: Record<string, string> = {}, target = 'environments/production') {
  return fetch(`${platform.url}/models/${modelId}/${target}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function logsMatching(pattern: RegExp, ...args: string[]): Promise<string> {
  return until(
    `logs matching ${pattern}`,
    async () => (await platform.cli(['logs', '--model', modelId, ...args])).stdout,
    (logs) => pattern.test(logs),
    30_000,
    250,
  );
}

test('a Response the model returns passes through: a 204 is a 204, with its headers', async () => {
  const res = await predict({ mode: 'no-content' });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('x-model'), 'truss-server');
  assert.equal(await res.text(), '');
});

test('a StreamingResponse of text/event-stream passes through byte-exact, never wrapped twice', async () => {
  const res = await predict({ mode: 'sse', n: 3 }, { accept: 'text/event-stream' });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(await res.text(), 'data: event 0\n\ndata: event 1\n\ndata: event 2\n\n');
});

test('predict reads the body size, a header and the JSON from its fastapi.Request', async () => {
  const body = { mode: 'size', text: 'x'.repeat(1000) };
  const res = await predict(body, { 'x-test': 'from-the-client' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    bytes: Buffer.byteLength(JSON.stringify(body)),
    header: 'from-the-client',
    json: body.text,
  });
});

test("HTTPException 418 answers 418 with its detail; another error answers 500 without its message, the traceback from the model's code in the logs", async () => {
  const teapot = await predict({ mode: 'teapot' });
  assert.equal(teapot.status, 418);
  const said = (await teapot.json()) as { detail: string; error: { message: string } };
  assert.equal(said.detail, "I'm a teapot");
  assert.equal(said.error.message, "I'm a teapot");

  const crash = await predict({ mode: 'crash' }, { 'x-request-id': 'crash-1' });
  assert.equal(crash.status, 500);
  const text = await crash.text();
  assert.doesNotMatch(text, /secret the caller/);
  assert.match(text, /crash-1/);
  const logs = await logsMatching(/ValueError: a secret the caller must not see/, '--level', 'error');
  const traceback = logs.slice(logs.lastIndexOf('Traceback (most recent call last)'));
  // Platform frames trimmed: the first frame is the model's own.
  assert.match(
    traceback,
    /^Traceback \(most recent call last\):\n.*File ".*model\/model\.py", line \d+, in predict/m,
  );
  assert.doesNotMatch(traceback.split('ValueError')[0]!, /server\.py|asyncio/);
});

test('a pydantic input is validated (422 naming the field) and a pydantic output serialised; numpy answers as JSON numbers', async () => {
  const bad = await predict({ n: 'many' });
  assert.equal(bad.status, 422);
  const errors = (await bad.json()) as { detail: { loc: string[] }[]; error: { code: string } };
  assert.equal(errors.error.code, 'INVALID_INPUT');
  assert.deepEqual(errors.detail.map((e) => e.loc.join('.')).sort(), ['mode', 'n']);

  assert.deepEqual(await (await predict({ mode: 'pydantic', text: 'hey' })).json(), {
    echo: 'hey',
    length: 3,
  });
  assert.deepEqual(await (await predict({ mode: 'numpy' })).json(), {
    matrix: [
      [0, 1],
      [2, 3],
    ],
    mean: 1.5,
    count: 3,
  });
});

test('an error mid-stream ends the response without its final chunk, with the traceback logged', async () => {
  const res = await predict({ mode: 'break' });
  assert.equal(res.status, 200);
  await assert.rejects(res.text(), 'the client sees an incomplete response, not a short clean one');
  await logsMatching(/the stream failed part-way[\s\S]*RuntimeError: the stream broke/, '--level', 'error');
  // The replica serves on.
  assert.deepEqual(await (await predict({ mode: 'other' })).json(), { mode: 'other' });
});

test('runtime.streaming_read_timeout cuts off a stream that stalls', async () => {
  const res = await predict({ mode: 'slow-stream' });
  assert.equal(res.status, 200);
  await assert.rejects(res.text());
  await logsMatching(/produced nothing for 2 s \(runtime\.streaming_read_timeout\)/, '--level', 'error');
});

test("a client that leaves cancels the model's work and frees its slot", async () => {
  // As many as the replica has slots (predict_concurrency 4), each left by its client.
  const clients = [1, 2, 3, 4].map(() => new AbortController());
  const calls = clients.map((c, i) =>
    fetch(`${platform.url}/models/${modelId}/environments/production/predict`, {
      method: 'POST',
      body: JSON.stringify({ mode: 'wait', n: 1000, text: `left-${i}` }),
      signal: c.signal,
    }).catch(() => null),
  );
  await logsMatching(/(waiting for left-\d s[\s\S]*){4}/);
  for (const c of clients) c.abort();
  await Promise.all(calls);
  await logsMatching(/(wait cancelled after[\s\S]*){4}/);
  // Every slot is free again: this one is answered now, not after 1000 s.
  const res = await fetch(`${platform.url}/models/${modelId}/environments/production/predict`, {
    method: 'POST',
    body: JSON.stringify({ mode: 'pid' }),
    signal: AbortSignal.timeout(60_000),
  });
  assert.equal(res.status, 200);
});

test('a promotion to staging makes the model answer "staging" without a restart', async () => {
  const first = (await (await predict({ mode: 'environment' })).json()) as { environment: { name: string } };
  assert.deepEqual(first.environment, { name: 'production' });

  const second = await push(fixture, '--deployment-name', 'candidate');
  const target = `deployment/${second.deployment_id}`;
  const before = (await (await predict({ mode: 'environment' }, {}, target)).json()) as {
    environment: unknown;
    pid: number;
  };
  assert.equal(before.environment, null);
  const created = await platform.api('POST', `/v1/models/${modelId}/environments`, { name: 'staging' });
  assert.ok(created.status < 300, JSON.stringify(created.body));
  const promoted = await platform.api('POST', `/v1/models/${modelId}/environments/staging/promote`, {
    deployment_id: second.deployment_id,
  });
  assert.ok(promoted.status < 300, JSON.stringify(promoted.body));
  const after = await until(
    'the candidate answers staging',
    async () =>
      (await (await predict({ mode: 'environment' }, {}, 'environments/staging')).json()) as {
        environment: { name: string } | null;
        setups: (string | null)[];
        pid: number;
      },
    (v) => v.environment?.name === 'staging',
    60_000,
    250,
  );
  assert.equal(after.pid, before.pid, 'the same process: setup_environment ran without a restart');
  assert.deepEqual(after.setups, ['staging']);
  // The route that tells a replica its environment is the platform's, not a caller's.
  const forged = await fetch(`${platform.url}/models/${modelId}/environments/staging/sync/v1/environment`, {
    method: 'POST',
    body: JSON.stringify({ environment: { name: 'forged' } }),
  });
  assert.equal(forged.status, 404);
  const still = (await (await predict({ mode: 'environment' }, {}, 'environments/staging')).json()) as {
    environment: { name: string };
  };
  assert.equal(still.environment.name, 'staging');
});

test('an unhealthy replica stops getting traffic and is replaced', async () => {
  const sick = (await (await predict({ mode: 'sick' })).json()) as { pid: number };
  const replicas = async () =>
    (
      await platform.api<{ replicas: { id: string; status: string; pid: number | null }[] }>(
        'GET',
        `/v1/models/${modelId}/deployments/${await productionDeployment()}/replicas`,
      )
    ).body.replicas;
  // Out of routing while its process lives on (stop_traffic_threshold_seconds: 2), before it is
  // replaced (restart_threshold_seconds: 5).
  await until(
    'the sick replica leaves routing, still running',
    replicas,
    (list) => list.some((r) => r.pid === sick.pid && r.status === 'STARTING'),
    30_000,
    200,
  );
  const healed = (await (await predict({ mode: 'pid' })).json()) as { pid: number };
  assert.notEqual(healed.pid, sick.pid, 'a replacement answered');
  await logsMatching(/RuntimeError: the model feels sick/, '--level', 'error');
  await logsMatching(/has not been healthy \(is_healthy\) for 5 s: replaced/);
});

async function productionDeployment(): Promise<string> {
  const envs = await platform.api<{ environments: { name: string; current_deployment_id: string }[] }>(
    'GET',
    `/v1/models/${modelId}/environments`,
  );
  return envs.body.environments.find((e) => e.name === 'production')!.current_deployment_id;
}

test('signatures Truss refuses are refused at load, naming the method', async () => {
  const cases: [string, string, RegExp][] = [
    [
      'request-first',
      'import fastapi\nclass Model:\n    def predict(self, request: fastapi.Request, model_input):\n        return 1\n',
      /`predict` takes two arguments with the request first/,
    ],
    [
      'both',
      'class Model:\n    def predict(self, x):\n        return 1\n    async def websocket(self, ws):\n        pass\n',
      /cannot have both `websocket` and any of `predict`/,
    ],
    [
      'neither',
      'class Model:\n    def load(self):\n        pass\n',
      /must have a `predict` or a `websocket` method/,
    ],
  ];
  for (const [name, source, reason] of cases) {
    const dir = join(scratch, name);
    cpSync(fixture, dir, { recursive: true });
    writeFileSync(join(dir, 'config.yaml'), `model_name: refused-${name}\n`);
    writeFileSync(join(dir, 'model', 'model.py'), source);
    const r = await platform.cli(['push', dir]);
    assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
    assert.match(r.stdout + r.stderr, reason, name);
  }
});

// e2e: custom servers (Truss `docker_server`). A server on the Python standard library alone
// (fixtures/stdlib-server) is pushed as users push theirs: it gets a port per replica from $PORT
// (or is held to one replica when its port is fixed), is ready when its readiness endpoint
// answers, is replaced when its liveness endpoint fails, and is reached through …/predict and
// …/sync/{path}.
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { writeTree } from '../support/write-tree.ts';
import { load, REPO, startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-custom-'));

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Pushed {
  model_id: string;
  deployment_id: string;
}

/** A model directory of the stdlib server with the config given (after model_name). */
function serverDir(name: string, config: string): string {
  const dir = join(scratch, name);
  cpSync(join(REPO, 'test', 'e2e', 'fixtures', 'stdlib-server'), dir, { recursive: true });
  writeTree(dir, { 'config.yaml': `model_name: ${name}\n${config}` });
  return dir;
}

function dockerServer(command: string, extra = '', port = 8000): string {
  return `docker_server:
  start_command: ${command}
  server_port: ${port}
  predict_endpoint: /predict
  readiness_endpoint: /ready
  liveness_endpoint: /live
${extra}`;
}

async function push(dir: string, ...extra: string[]): Promise<Pushed & { warnings?: string[] }> {
  const r = await platform.cli(['push', dir, '--output', 'json', ...extra]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as Pushed;
}

const predictUrl = (model: string): string =>
  `${platform.url}/models/${model}/environments/production/predict`;

async function predict(model: string, body: unknown): Promise<Response> {
  return fetch(predictUrl(model), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function replicas(p: Pushed): Promise<{ id: string; status: string }[]> {
  const r = await platform.api<{ replicas: { id: string; status: string }[] }>(
    'GET',
    `/v1/models/${p.model_id}/deployments/${p.deployment_id}/replicas`,
  );
  return r.body.replicas;
}

test('a custom server answers …/predict at its predict_endpoint and any route through …/sync/', async () => {
  const pushed = await push(serverDir('sync-routes', dockerServer('python server.py $PORT')));
  const res = await predict(pushed.model_id, { x: 1 });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { echo: unknown; port: number };
  assert.deepEqual(body.echo, { x: 1 });
  assert.notEqual(body.port, 8000, 'it listens on the port Plinth gave it in $PORT');

  const base = `${platform.url}/models/${pushed.model_id}/environments/production/sync`;
  const get = await fetch(`${base}/v1/anything/here?x=1&y=2`);
  assert.deepEqual(await get.json(), { path: '/v1/anything/here?x=1&y=2', method: 'GET' });
  const post = await fetch(`${base}/echo`, { method: 'POST', body: 'raw body' });
  assert.deepEqual(await post.json(), { path: '/echo', method: 'POST', body: 'raw body' });
  // plinth predict --sync calls any path: GET without a body, POST with one.
  const got = await platform.cli(['predict', '--model', pushed.model_id, '--sync', 'v1/models?x=1']);
  assert.deepEqual(JSON.parse(got.stdout), { path: '/v1/models?x=1', method: 'GET' });
  const posted = await platform.cli([
    'predict',
    '--model',
    pushed.model_id,
    '--sync',
    '/echo',
    '-d',
    '{"a":1}',
  ]);
  assert.deepEqual(JSON.parse(posted.stdout), { path: '/echo', method: 'POST', body: '{"a":1}' });
  // The host form, and a deployment's own URL, reach the same server.
  const byDeployment = await fetch(
    `${platform.url}/models/${pushed.model_id}/deployment/${pushed.deployment_id}/sync/ping`,
  );
  assert.deepEqual(await byDeployment.json(), { path: '/ping', method: 'GET' });
});

test('two replicas of a $PORT server serve at once under load, with no failed request', async () => {
  const pushed = await push(
    serverDir(
      'two-ports',
      `${dockerServer('python server.py ${PORT}')}environment_variables:\n  SLEEP_MS: "20"\nautoscaling:\n  min_replica: 2\n  max_replica: 2\n`,
    ),
  );
  await until(
    'two ready replicas',
    async () => (await replicas(pushed)).filter((r) => r.status === 'READY').length,
    (n) => n === 2,
    60_000,
  );
  const running = load(8, async () => {
    const res = await predict(pushed.model_id, { n: 1 });
    return res.status === 200 ? ((await res.json()) as { port: number }).port : -res.status;
  });
  await new Promise((r) => setTimeout(r, 3000));
  const ports = await running.stop();
  assert.ok(ports.length > 20, `${ports.length} requests`);
  assert.deepEqual(
    ports.filter((p) => p < 0),
    [],
    'no request failed',
  );
  assert.equal(new Set(ports).size, 2, 'both replicas served');
});

test('a server on a fixed port is held to one replica here, and the push and the waiting replica say why', async () => {
  const r = await platform.cli([
    'push',
    serverDir(
      'fixed-port',
      `${dockerServer('python server.py 18765', '', 18765)}autoscaling:\n  min_replica: 2\n  max_replica: 2\n`,
    ),
    '--output',
    'json',
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr + r.stdout, /fixed server_port 18765, so this machine runs one replica/);
  const pushed = JSON.parse(r.stdout) as Pushed;
  assert.equal((await predict(pushed.model_id, {})).status, 200);
  await until(
    'the second replica waits, with the reason in the logs',
    async () => (await platform.cli(['logs', '--model', pushed.model_id])).stdout,
    (logs) => /waiting for capacity: port 18765 is taken by replica \S+: .*one replica/.test(logs),
    30_000,
  );
  assert.equal((await replicas(pushed)).filter((x) => x.status === 'READY').length, 1);
  // A new revision (an instance-type change) of it replaces it stop-then-start, on the same port.
  const update = await platform.cli([
    'deployments',
    'update',
    pushed.deployment_id,
    '--model',
    pushed.model_id,
    '--instance-type',
    '1x4',
  ]);
  assert.equal(update.code, 0, update.stderr);
  await until(
    'the replica on the new instance type serves',
    async () => {
      const r = await platform.api<{ replicas: { status: string; instance_type: string | null }[] }>(
        'GET',
        `/v1/models/${pushed.model_id}/deployments/${pushed.deployment_id}/replicas`,
      );
      return r.body.replicas.filter((x) => x.status === 'READY').map((x) => x.instance_type);
    },
    (types) => types.length === 1 && types[0] === '1x4',
    60_000,
  );
  assert.equal((await predict(pushed.model_id, {})).status, 200);
});

test('a server that never gets ready fails the deployment with its own output', async () => {
  const r = await platform.cli([
    'push',
    serverDir(
      'never-ready',
      `${dockerServer('python server.py $PORT')}environment_variables:\n  NEVER_READY: "1"\nruntime:\n  health_checks:\n    startup_threshold_seconds: 3\n`,
    ),
    '--output',
    'json',
  ]);
  assert.notEqual(r.code, 0);
  const out = r.stdout + r.stderr;
  assert.match(out, /DEPLOY_FAILED/);
  assert.match(out, /did not answer its readiness endpoint \/ready within 3 s/);
  assert.match(out, /loading weights/, 'its own output is in the reason');
});

test('a server whose liveness fails after ready is replaced, and requests that never reached it do not fail', async () => {
  const pushed = await push(
    serverDir(
      'goes-bad',
      `${dockerServer('python server.py $PORT')}runtime:\n  health_checks:\n    stop_traffic_threshold_seconds: 1\n    restart_threshold_seconds: 3\n`,
    ),
  );
  const first = (await (await predict(pushed.model_id, {})).json()) as { pid: number };
  const broke = await fetch(`${platform.url}/models/${pushed.model_id}/environments/production/sync/break`, {
    method: 'POST',
  });
  assert.equal(broke.status, 200);
  const running = load(2, async () => {
    const res = await predict(pushed.model_id, {});
    return res.status === 200 ? ((await res.json()) as { pid: number }).pid : -res.status;
  });
  await until(
    'a new replica serves',
    () => running.answers.at(-1),
    (pid) => pid !== undefined && pid > 0 && pid !== first.pid,
    60_000,
  );
  const answers = await running.stop();
  assert.deepEqual(
    answers.filter((a) => a < 0),
    [],
    'no request failed',
  );
});

test('examples/custom-server wakes from zero, answers …/predict, and the OpenAI SDK streams chat completions from …/sync/v1', async () => {
  const dir = join(scratch, 'custom-server');
  cpSync(join(REPO, 'examples', 'custom-server'), dir, { recursive: true });
  // Tokens far enough apart that a stream buffered to its end could not pass for a live one.
  appendFileSync(join(dir, 'config.yaml'), 'environment_variables:\n  TOKEN_DELAY_SECONDS: "0.05"\n');
  const pushed = await push(dir);
  const set = await platform.cli([
    'autoscaling',
    'set',
    '--model',
    pushed.model_id,
    '--environment',
    'production',
    '--min-replica',
    '0',
    '--window',
    '1',
    '--scale-down-delay',
    '0',
  ]);
  assert.equal(set.code, 0, set.stderr);
  await until(
    'scaled to zero',
    async () =>
      (
        await platform.api<{ status: string }>(
          'GET',
          `/v1/models/${pushed.model_id}/deployments/${pushed.deployment_id}`,
        )
      ).body.status,
    (status) => status === 'SCALED_TO_ZERO',
    60_000,
  );
  const woken = await predict(pushed.model_id, { prompt: 'the river', max_tokens: 8 });
  assert.equal(woken.status, 200, await woken.clone().text());
  assert.match(((await woken.json()) as { completion: string }).completion, /\w/);

  const client = new OpenAI({
    baseURL: `${platform.url}/models/${pushed.model_id}/environments/production/sync/v1`,
    apiKey: platform.apiKey,
  });
  const whole = await client.chat.completions.create({
    model: 'tiny-markov',
    messages: [{ role: 'user', content: 'tell me about the river' }],
    max_tokens: 12,
    seed: 7,
  });
  assert.equal(whole.object, 'chat.completion');
  assert.match(whole.choices[0]!.message.content ?? '', /\w/);

  const stream = await client.chat.completions.create({
    model: 'tiny-markov',
    messages: [{ role: 'user', content: 'tell me about the river' }],
    max_tokens: 20,
    seed: 7,
    stream: true,
  });
  const arrivals: number[] = [];
  let text = '';
  for await (const chunk of stream) {
    const piece = chunk.choices[0]?.delta?.content;
    if (piece) {
      arrivals.push(performance.now());
      text += piece;
    }
  }
  assert.ok(arrivals.length >= 10, `${arrivals.length} content chunks`);
  // 20 tokens 50 ms apart: chunks that came one by one are spread over most of a second.
  assert.ok(
    arrivals.at(-1)! - arrivals[0]! > 400,
    `chunks arrived within ${arrivals.at(-1)! - arrivals[0]!} ms`,
  );
  assert.equal(text.trim().length > 0, true);
});

test("what a custom server's command starts ends with the replica", async () => {
  const pushed = await push(serverDir('with-worker', dockerServer('sleep 987 & python server.py $PORT')));
  assert.equal((await predict(pushed.model_id, {})).status, 200);
  const workers = (): number =>
    readdirSync('/proc').filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x00987\x00';
      } catch {
        return false;
      }
    }).length;
  assert.equal(workers(), 1, 'its worker runs');
  const r = await platform.cli([
    'deployments',
    'deactivate',
    pushed.deployment_id,
    '--model',
    pushed.model_id,
  ]);
  assert.equal(r.code, 0, r.stderr);
  await until('its worker ended with it', workers, (n) => n === 0, 30_000);
});

// e2e: `--gateway-workers 2`: two processes accept from one listening port. `plinth up` on
// PostgreSQL: inference is served by both with no failure, the autoscaler scales on what both
// count, API and dashboard requests answer whichever process took them, /metrics counts every
// request, a killed worker is replaced while the port keeps serving; on SQLite it refuses to start.
// `plinth gateway --gateway-workers 2` beside it serves and merges its /metrics. Each request opens
// its own connection, so that the kernel picks a process for each.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { writeTree } from '../support/write-tree.ts';
import { BIN, load, pushed, REPO, startPlatform, until } from './harness.ts';
import type { Background, Platform } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-workers-'));
let database: TestDatabase;
let platform: Platform;
let gateway: Background | undefined;

before(async () => {
  database = await createTestDatabase();
  platform = await startPlatform(undefined, ['--store', database.url, '--gateway-workers', '2']);
});
after(async () => {
  await gateway?.stop();
  await platform?.stop();
  await database?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on a connection of its own (so that any process may take it); status 0 if it failed. */
function send(
  url: string,
  method = 'GET',
  body?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url, { method, agent: false, headers: { ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    });
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end(body);
  });
}

const predict = (base: string, model: string, input = '{"text": "w"}'): Promise<Answer> =>
  send(`${base}/models/${model}/production/predict`, 'POST', input, {
    authorization: `Api-Key ${platform.apiKey}`,
    'content-type': 'application/json',
  });

/** The value of every sample of a family in a Prometheus exposition, by its labels. */
function samples(exposition: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of exposition.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm')))
    out.set(m[1] ?? '', Number(m[2]));
  return out;
}
const total = (values: Map<string, number>): number => [...values.values()].reduce((a, b) => a + b, 0);

/** What each process (its gateway id without the random part) reports it holds of a deployment now. */
async function reportedBy(deploymentId: string): Promise<Record<string, number>> {
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  try {
    const rows = await db.query<{ gateway_id: string; concurrency: number }>(
      'SELECT gateway_id, concurrency FROM gateway_concurrency WHERE deployment_id = $1 AND reported_ms > $2',
      [deploymentId, Date.now() - 2500],
    );
    return Object.fromEntries(
      rows.rows.map((r) => [r.gateway_id.replace(/-[0-9a-f]{8}$/, ''), Number(r.concurrency)]),
    );
  } finally {
    await db.end();
  }
}

/** The gateway worker processes a primary forked. */
function workerPids(primaryPid: number): number[] {
  const children: number[] = [];
  for (const task of readdirSync(`/proc/${primaryPid}/task`)) {
    const list = readFileSync(`/proc/${primaryPid}/task/${task}/children`, 'utf8').trim();
    if (list) children.push(...list.split(' ').map(Number));
  }
  return children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('gateway-worker');
    } catch {
      return false;
    }
  });
}

test('with SQLite, `plinth up --gateway-workers 2` refuses to start, saying why in one line', () => {
  const home = join(scratch, 'sqlite-home');
  const r = spawnSync(
    process.execPath,
    [BIN, 'up', '--port', '0', '--home', home, '--gateway-workers', '2'],
    {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, PLINTH_STORE: '' },
      timeout: 30_000,
    },
  );
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.equal(
    r.stderr.trim(),
    'error: --gateway-workers 2: needs a PostgreSQL store (--store postgres://…): the workers share routes, keys and request counts through it',
  );
});

test('inference under load is served by both processes with no failure, and /metrics counts every request', async () => {
  await until(
    'the start-up lines to say how many processes serve',
    async () => platform.output(),
    (out) => /Gateway workers: 2 processes serve http:\/\/\S+ \(this one and 1 more/.test(out),
    10_000,
  );
  assert.equal(workerPids(platform.pid).length, 1, 'one worker process beside the primary');
  await pushed(platform, join(REPO, 'examples', 'hello'));
  const answers = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const mine: Answer[] = [];
      for (let i = 0; i < 25; i++) mine.push(await predict(platform.url, 'hello'));
      return mine;
    }),
  );
  const statuses = answers.flat().map((a) => a.status);
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    [],
    'no request failed',
  );
  // Scrapes land on either process: each shows every request (the worker passes /metrics on).
  for (let i = 0; i < 4; i++) {
    const exposition = (await send(`${platform.url}/metrics`)).body;
    assert.equal(total(samples(exposition, 'plinth_inference_requests_total')), 200, exposition);
    const perProcess = samples(exposition, 'plinth_gateway_process_requests_total');
    assert.deepEqual([...perProcess.keys()].sort(), ['process="primary"', 'process="worker-1"']);
    assert.equal(total(perProcess), 200);
    assert.ok(
      [...perProcess.values()].every((n) => n > 0),
      `both processes served requests: ${JSON.stringify([...perProcess])}`,
    );
  }
});

test('API and dashboard requests through the shared port all answer, whichever process took them', async () => {
  const auth = { authorization: `Api-Key ${platform.apiKey}` };
  // What the workers passed on so far (the earlier scrapes among it), to count only what follows.
  const forwardedBefore = total(
    samples((await send(`${platform.url}/metrics`)).body, 'plinth_gateway_forwarded_requests_total'),
  );
  const lists = await Promise.all(
    Array.from({ length: 30 }, () => send(`${platform.url}/v1/models`, 'GET', undefined, auth)),
  );
  for (const r of lists) {
    assert.equal(r.status, 200, r.body);
    assert.ok((JSON.parse(r.body) as { models: { name: string }[] }).models.some((m) => m.name === 'hello'));
  }
  for (let i = 0; i < 6; i++) {
    const page = await send(`${platform.url}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
  }
  for (let i = 0; i < 6; i++) {
    const created = await send(
      `${platform.url}/v1/secrets`,
      'POST',
      JSON.stringify({ name: `s${i}`, value: 'v' }),
      {
        ...auth,
        'content-type': 'application/json',
      },
    );
    assert.ok(created.status === 200 || created.status === 201, `${created.status} ${created.body}`);
  }
  const secrets = JSON.parse((await send(`${platform.url}/v1/secrets`, 'GET', undefined, auth)).body) as {
    secrets: { name: string }[];
  };
  assert.deepEqual(
    secrets.secrets
      .map((s) => s.name)
      .filter((n) => /^s\d$/.test(n))
      .sort(),
    ['s0', 's1', 's2', 's3', 's4', 's5'],
  );
  // A log follow (server-sent events) streams through whichever process took it.
  for (let i = 0; i < 4; i++) {
    const first = await new Promise<string>((resolve, reject) => {
      const req = request(
        `${platform.url}/v1/models/hello/deployments/production/logs?follow=true&limit=1`,
        { agent: false, headers: auth },
        (res) => res.once('data', (c: Buffer) => (resolve(c.toString()), req.destroy())),
      );
      req.on('error', reject);
      req.end();
    });
    assert.match(first, /^(id|data): /m);
  }
  const exposition = (await send(`${platform.url}/metrics`)).body;
  // Two scrapes at most (the one before, this one) were passed on besides the API and dashboard requests.
  assert.ok(
    total(samples(exposition, 'plinth_gateway_forwarded_requests_total')) - forwardedBefore > 2,
    'the worker passed API and dashboard requests to the primary',
  );
});

test('the autoscaler scales on the sum of what both processes count', async () => {
  const dir = writeTree(join(scratch, 'slow'), {
    'config.yaml': [
      'model_name: slow',
      'runtime:',
      '  predict_concurrency: 1',
      'autoscaling:',
      '  min_replica: 1',
      '  max_replica: 8',
      '  concurrency_target: 1',
      '  target_utilization_percentage: 100',
      '  autoscaling_window: 2',
      '  scale_down_delay: 600',
      '',
    ].join('\n'),
    'model/model.ts':
      'export class Model {\n  async predict(input: { ms: number }) {\n    await new Promise((r) => setTimeout(r, input.ms));\n    return { pid: process.pid };\n  }\n}\n',
  });
  const { deployment_id } = await pushed(platform, dir);
  const reported = (): Promise<Record<string, number>> => reportedBy(deployment_id);
  // Requests that stay in flight (or queued) for the whole test, each on a connection of its own,
  // added one at a time until both processes hold some: then neither alone counts them all. An
  // idle process tends to win every new connection; short requests beside them keep both busy,
  // so that the kernel's pick varies.
  const held: ClientRequest[] = [];
  const busy = load(4, () => predict(platform.url, 'hello'), 60_000);
  try {
    let counts: Record<string, number> = {};
    while (held.length < 8) {
      const req = request(`${platform.url}/models/slow/production/predict`, {
        method: 'POST',
        agent: false,
        headers: { authorization: `Api-Key ${platform.apiKey}`, 'content-type': 'application/json' },
      });
      req.on('error', () => {});
      req.end('{"ms": 20000}');
      held.push(req);
      counts = await until(
        `the processes to report ${held.length} held requests`,
        reported,
        (c) => total(new Map(Object.entries(c))) === held.length,
        15_000,
        200,
      );
      if (held.length >= 4 && Object.values(counts).filter((n) => n > 0).length === 2) break;
    }
    assert.deepEqual(
      (await busy.stop()).filter((a) => a.status !== 200),
      [],
    );
    assert.deepEqual(
      Object.keys(counts).sort(),
      ['plinth-up', 'plinth-up-w1'],
      'both processes hold requests',
    );
    assert.ok(
      Object.values(counts).every((n) => n > 0 && n < held.length),
      `neither process alone holds them all: ${JSON.stringify(counts)}`,
    );
    const needed = held.length;
    await until(
      `${needed} replicas for the ${needed} requests both processes hold together`,
      async () =>
        (
          await platform.api<{ active_replica_count: number }>(
            'GET',
            '/v1/models/slow/deployments/production',
          )
        ).body.active_replica_count,
      (n) => n >= needed,
      90_000,
      250,
    );
  } finally {
    await busy.stop();
    for (const req of held) req.destroy();
  }
});

test('a killed worker is started again, and the port keeps serving meanwhile', async () => {
  const [victim] = workerPids(platform.pid);
  assert.ok(victim);
  const from = platform.output().length;
  process.kill(victim, 'SIGKILL');
  const meanwhile: number[] = [];
  for (let i = 0; i < 20; i++) meanwhile.push((await predict(platform.url, 'hello')).status);
  assert.deepEqual(
    meanwhile.filter((s) => s !== 200),
    [],
    'the primary serves the port alone',
  );
  await until(
    'the worker started again',
    async () => platform.output().slice(from),
    (out) =>
      /gateway worker 1 \(pid \d+\) exited \(SIGKILL\); starting it again/.test(out) &&
      /serves again/.test(out),
    30_000,
  );
  const [replacement] = workerPids(platform.pid);
  assert.ok(replacement && replacement !== victim, `a new worker process (${replacement}, was ${victim})`);
  // Which process takes a new connection is the kernel's choice (an idle one tends to win): the
  // new worker is given batches of fresh connections until it has served some, 10 batches at most.
  let perProcess = new Map<string, number>();
  for (let batch = 0; batch < 10 && !((perProcess.get('process="worker-1"') ?? 0) > 0); batch++) {
    const after = await Promise.all(Array.from({ length: 40 }, () => predict(platform.url, 'hello')));
    assert.deepEqual(
      after.filter((a) => a.status !== 200),
      [],
    );
    perProcess = samples(
      (await send(`${platform.url}/metrics`)).body,
      'plinth_gateway_process_requests_total',
    );
  }
  assert.ok(
    (perProcess.get('process="worker-1"') ?? 0) > 0,
    `the new worker serves: ${JSON.stringify([...perProcess])}`,
  );
});

test('`plinth gateway --gateway-workers 2` beside the control plane serves, merges its /metrics, and stops gracefully', async () => {
  const pause = writeTree(join(scratch, 'pause'), {
    'config.yaml': 'model_name: pause\nruntime:\n  predict_concurrency: 4\n',
    'model/model.ts':
      'export class Model {\n  async predict(input: { ms: number }) {\n    await new Promise((r) => setTimeout(r, input.ms));\n    return { ms: input.ms };\n  }\n}\n',
  });
  const { deployment_id: pauseId } = await pushed(platform, pause);
  gateway = platform.background([
    'gateway',
    '--store',
    database.url,
    '--port',
    '0',
    '--gateway-workers',
    '2',
  ]);
  await gateway.waitFor(/serving inference at http:\/\/\S+ with 2 gateway workers/);
  const url = /serving inference at (http:\/\/\S+)/.exec(gateway.output())![1]!;
  // The kernel hands each connection to one of the processes, not necessarily evenly: batches
  // go until both have served (as in the test above).
  let sent = 0;
  let perProcess = new Map<string, number>();
  for (
    let batch = 0;
    batch < 10 && !(perProcess.size === 2 && [...perProcess.values()].every((n) => n > 0));
    batch++
  ) {
    const answers = await Promise.all(Array.from({ length: 40 }, () => predict(url, 'hello')));
    sent += answers.length;
    assert.deepEqual(
      answers.filter((a) => a.status !== 200).map((a) => a.status),
      [],
    );
    perProcess = samples((await send(`${url}/metrics`)).body, 'plinth_gateway_process_requests_total');
  }
  for (let i = 0; i < 4; i++) {
    const exposition = (await send(`${url}/metrics`)).body;
    assert.equal(total(samples(exposition, 'plinth_inference_requests_total')), sent);
    perProcess = samples(exposition, 'plinth_gateway_process_requests_total');
    assert.deepEqual([...perProcess.keys()].sort(), ['process="primary"', 'process="worker-1"']);
    assert.ok(
      [...perProcess.values()].every((n) => n > 0),
      JSON.stringify([...perProcess]),
    );
  }
  // Stopped while it holds requests, every process lets them finish before it exits.
  const slow = Array.from({ length: 3 }, () => predict(url, 'pause', '{"ms": 2000}'));
  await until(
    'the gateway to hold the three requests',
    () => reportedBy(pauseId),
    (c) => Object.values(c).reduce((a, b) => a + b, 0) === 3,
    15_000,
    100,
  );
  assert.equal(await gateway.stop(), 0);
  gateway = undefined;
  assert.deepEqual(
    (await Promise.all(slow)).map((a) => a.status),
    [200, 200, 200],
  );
});

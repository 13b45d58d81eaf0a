// e2e: Truss-style Python models through the same push, gateway and runtime as TypeScript ones.
import { sleep } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTree } from '../support/write-tree.ts';
import { after, before, test } from 'node:test';
import { PYTHON_BASE_DIR, pushed, readJsonLines, REPO, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-py-'));
const fixture = (name: string): string => join(REPO, 'test', 'e2e', 'fixtures', name);

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const push = (dir: string, ...extra: string[]) => pushed(platform, dir, ...extra);

function predict(model: string, body: unknown): Promise<Response> {
  return fetch(`${platform.url}/models/${model}/environments/production/predict`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
}

test('examples/iris answers the right class on its production URL; a second push reuses the venv', async () => {
  const { model_id } = await push('examples/iris');
  const virginica = await predict(model_id, { measurements: [6.7, 3.0, 5.2, 2.3] });
  assert.equal(virginica.status, 200);
  assert.equal(((await virginica.json()) as { class: string }).class, 'virginica');
  const setosa = await predict(model_id, { measurements: [5.1, 3.5, 1.4, 0.2] });
  assert.equal(((await setosa.json()) as { class: string }).class, 'setosa');
  const bad = await predict(model_id, { measurements: [1, 2] });
  assert.equal(bad.status, 500);
  // As Truss: the model's own message stays in the logs.
  assert.match(
    ((await bad.json()) as { error: { message: string } }).error.message,
    /Internal Server Error in the model; its traceback is in the deployment's logs/,
  );

  const second = await push('examples/iris', '--deployment-name', 'iris-again');
  const logs = await platform.cli(['logs', '--model', 'iris', '--deployment', second.deployment_id]);
  assert.match(logs.stdout, /requirements unchanged: reusing cached environment/);
  assert.doesNotMatch(logs.stdout, /pip install/);
});

test('async preprocess, predict and postprocess; Truss kwargs, environment variables, secrets, data_dir', async () => {
  const { model_id } = await push(fixture('py-async'));
  assert.deepEqual(await (await predict(model_id, { x: 2 })).json(), { y: 30 });
  assert.deepEqual(await (await predict(model_id, { context: true })).json(), {
    metadata: { owner: 'e2e' },
    env: ['hello', '3', 'true'],
    secret: 'default-token',
    weight: 0.5,
  });
});

test('predict_concurrency 2: two requests run together, a third waits for a slot', async () => {
  const results = (await Promise.all(
    [0, 1, 2].map(async () => (await predict('py-async', { sleep: 1.0 })).json()),
  )) as { started: number; ended: number }[];
  const byStart = [...results].sort((a, b) => a.started - b.started);
  const [first, second, third] = byStart as [(typeof results)[0], (typeof results)[0], (typeof results)[0]];
  assert.ok(second.started < first.ended, 'the first two ran at the same time');
  assert.ok(third.started >= Math.min(first.ended, second.ended), 'the third started only when a slot freed');
});

test('sync and async generators stream chunk by chunk', async () => {
  const { model_id } = await push(fixture('py-stream'));
  for (const mode of ['sync', 'async']) {
    const res = await predict(model_id, { mode, n: 4 });
    assert.equal(res.status, 200);
    const { items, firstReceivedAtMs } = await readJsonLines<{ token: string; produced_at_ms: number }>(res);
    assert.deepEqual(
      items.map((i) => i.token),
      [0, 1, 2, 3].map((i) => `${mode[0]}${i}`),
    );
    assert.ok(
      firstReceivedAtMs < items.at(-1)!.produced_at_ms,
      `${mode}: the first chunk arrived before the last was produced`,
    );
  }
});

test('a mid-stream error delivers the items before it, then cuts the response off; the next request succeeds', async () => {
  const res = await predict('py-stream', { mode: 'break' });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let received = '';
  await assert.rejects(async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      received += Buffer.from(value).toString();
    }
  }, 'an incomplete response, not a short clean one');
  assert.equal(received, 'one\ntwo\n');
  assert.deepEqual(await (await predict('py-stream', {})).json(), { ok: true });
});

test('an error raised in a helper under packages/ answers 500, and the traceback names it in the logs', async () => {
  const res = await predict('py-stream', { mode: 'helper', value: 42 });
  assert.equal(res.status, 500);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'MODEL_ERROR');
  let logs = '';
  for (let i = 0; i < 20 && !/helper\.py/.test(logs); i++) {
    await sleep(200);
    logs = (await platform.cli(['logs', '--model', 'py-stream', '--level', 'error'])).stdout;
  }
  assert.match(logs, /File ".*packages\/helper\.py", line \d+, in explode/);
  assert.match(logs, /ValueError: helper cannot handle 42/);
});

test('python_version picks that interpreter; one the host lacks fails the build naming what it has', async () => {
  const dir = join(scratch, 'py39');
  cpSync(fixture('py-stream'), dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), 'model_name: py39\npython_version: py39\n');
  const { model_id } = await push(dir);
  assert.deepEqual(await (await predict(model_id, { mode: 'version' })).json(), { python: '3.9' });

  writeFileSync(join(dir, 'config.yaml'), 'model_name: py399\npython_version: py399\n');
  const r = await platform.cli(['push', dir]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /BUILD_FAILED: python_version py399: Python 3\.99 is not installed on this host; it has .*py311/,
  );
});

test("bad requirements end in BUILD_FAILED with pip's own message", async () => {
  const dir = join(scratch, 'badreq');
  cpSync(fixture('py-stream'), dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.yaml'),
    'model_name: badreq\nrequirements:\n  - plinth-no-such-package-e2e==9.9.9\n',
  );
  const r = await platform.cli(['push', dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /BUILD_FAILED: pip install failed \(exit 1\): ERROR: Could not find a version that satisfies the requirement plinth-no-such-package-e2e==9\.9\.9/,
  );
  const logs = await platform.cli(['logs', '--model', 'badreq']);
  assert.match(
    logs.stdout,
    /ERROR\s+build: ERROR: No matching distribution found for plinth-no-such-package-e2e/,
  );
});

test('`plinth init --language python` makes a Truss model that deploys and answers', async () => {
  const dir = join(scratch, 'my-py-model');
  const init = await platform.cli(['init', dir, '--language', 'python']);
  assert.equal(init.code, 0, init.stderr);
  await push(dir);
  const predicted = await platform.cli(['predict', dir, '-d', '{"text": "three small words"}']);
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.deepEqual(JSON.parse(predicted.stdout), { length: 17, words: 3 });
});

test('examples/stream-python streams its tokens', async () => {
  const { model_id } = await push('examples/stream-python');
  const res = await predict(model_id, { tokens: 3, delay_ms: 100, with_time: true });
  const { items, firstReceivedAtMs } = await readJsonLines<{ token: string; produced_at_ms: number }>(res);
  assert.deepEqual(
    items.map((i) => i.token),
    ['the', 'quick', 'brown'],
  );
  assert.ok(firstReceivedAtMs < items.at(-1)!.produced_at_ms);
});

test("a Truss model imports Truss's server packages without listing them: they come from the base environment", async () => {
  const dir = writeTree(join(scratch, 'truss-base'), {
    'config.yaml': 'model_name: truss-base\n',
    'model/__init__.py': '',
    'model/model.py': `import importlib.metadata

import fastapi, pydantic, numpy, requests, aiohttp, yaml, msgpack, prometheus_client

DISTRIBUTIONS = {"yaml": "pyyaml"}


class Model:
    def predict(self, model_input):
        modules = [fastapi, pydantic, numpy, requests, aiohttp, yaml, msgpack, prometheus_client]
        return {
            m.__name__: {
                "version": importlib.metadata.version(DISTRIBUTIONS.get(m.__name__, m.__name__)),
                "file": m.__file__,
            }
            for m in modules
        }
`,
  });
  const { model_id, deployment_id } = await push(dir);
  const res = await predict(model_id, {});
  assert.equal(res.status, 200, await res.clone().text());
  const found = (await res.json()) as Record<string, { version: string; file: string }>;
  assert.deepEqual(Object.keys(found).sort(), [
    'aiohttp',
    'fastapi',
    'msgpack',
    'numpy',
    'prometheus_client',
    'pydantic',
    'requests',
    'yaml',
  ]);
  for (const [name, { version, file }] of Object.entries(found)) {
    assert.match(version, /^\d+\.\d+/, name);
    assert.ok(file.startsWith(PYTHON_BASE_DIR), `${name} comes from the base environment: ${file}`);
  }
  assert.match(found.pydantic!.version, /^2\./);
  const logs = await platform.cli(['logs', '--model', 'truss-base', '--deployment', deployment_id]);
  assert.match(logs.stdout, /Truss's base environment: (reusing|ready|waiting)/);
  assert.doesNotMatch(logs.stdout, /WARNING/);
});

// e2e: a fixture set of Truss directories in the shapes people publish (test/e2e/fixtures/
// truss-directories: Truss's own test model, `truss init`'s output, names with spaces, nulls,
// request objects and responses, OpenAI methods, websockets, GPUs, custom servers, engine configs,
// build steps, weights from a hub, typos) pushed with the real CLI to a real server. Each one's
// outcome is asserted: deployed and answering, refused at push with its one-line reason (and
// nothing created), or failed with the reason its deployment records.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { FakeHub } from '../support/fake-hf-hub.ts';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'truss-directories');

interface Call {
  /** After `…/environments/production/`: `predict`, `sync/v1/chat/completions`, `websocket`. */
  path?: string;
  body: unknown;
  status?: number;
  /** The answer's JSON (deep-equal), or a pattern its text matches. */
  answer: unknown;
}

type Outcome =
  | { deployed: Call; warns?: RegExp[] }
  | { refused: RegExp }
  | { failed: 'BUILD_FAILED' | 'DEPLOY_FAILED'; reason: RegExp };

const EXPECTED: Record<string, Outcome> = {
  'basic truss': { deployed: { body: { a: 1 }, answer: { a: 1 } } },
  'truss-init': { deployed: { body: [1, 2], answer: [1, 2] } },
  'env-values': {
    deployed: {
      body: {},
      answer: { WORKERS: '4', TEMPERATURE: '0.7', USE_CACHE: 'true', HF_HOME: null, MODE: 'production' },
    },
    warns: [/environment_variables\.HF_HOME is null: the variable is not set/],
  },
  'secret-defaults': {
    deployed: {
      body: {},
      answer: {
        token: null,
        said: "secret 'openai_api_key' is not set: declare it under secrets in config.yaml and run `plinth secrets set openai_api_key`",
      },
    },
  },
  'pre-post': {
    deployed: { body: { text: 'Hello Big World' }, answer: { tokens: ['hello', 'big', 'world'], count: 3 } },
  },
  'async-model': { deployed: { body: { n: 21 }, answer: { doubled: 42 } } },
  streaming: { deployed: { body: { prompt: 'one two three' }, answer: /^one two three $/ } },
  'bundled-packages': { deployed: { body: { text: 'hi' }, answer: 'HI!' } },
  'data-dir': { deployed: { body: { index: 1 }, answer: 'dog' } },
  'custom-class': { deployed: { body: { text: 'good film' }, answer: { label: 'positive' } } },
  'module-dir': { deployed: { body: {}, answer: { module: 'src' } } },
  'request-arg': { deployed: { body: { q: 1 }, answer: { has_user_agent: true, input: { q: 1 } } } },
  'response-return': { deployed: { body: {}, status: 201, answer: /^plain text$/ } },
  'http-exception': { deployed: { body: {}, status: 400, answer: /text is required/ } },
  'pydantic-input': { deployed: { body: { prompt: 'abcdef', max_tokens: 3 }, answer: { text: 'abc' } } },
  'openai-methods': {
    deployed: {
      path: 'sync/v1/chat/completions',
      body: { model: 'm', messages: [{ role: 'user', content: 'stressed' }] },
      answer: /"content": ?"desserts"/,
    },
  },
  'websocket-echo': { deployed: { path: 'websocket', body: 'olleh', answer: /^hello$/ } },
  'gpu-a10g': { deployed: { body: {}, answer: /"cuda": ?"\d+"/ } },
  'gpu-h100-40gb': { deployed: { body: {}, answer: 'ok' } },
  'health-checks': { deployed: { body: {}, answer: { healthy: true } } },
  'ignored-keys': {
    deployed: { body: {}, answer: 'ok' },
    warns: [/live_reload is ignored/, /apply_library_patches is ignored/, /spec_version is ignored/],
  },
  'custom-server-port': {
    deployed: { body: { x: 1 }, answer: { echo: { x: 1 }, server: 'custom' } },
  },
  'build-commands': { deployed: { body: {}, answer: { output: 'compiled', in_venv: true } } },
  'system-packages': { deployed: { body: {}, answer: 'transcribed' } },
  'external-packages': { deployed: { body: { text: 'shared helpers' }, answer: 'Shared Helpers' } },
  'pyproject-requirements': { deployed: { body: {}, answer: { six: 'six' } } },
  'both-requirements': { refused: /requirements.*requirements_file/ },
  'hf-weights': { deployed: { body: {}, answer: { layers: 2, readme: false } } },
  'model-cache': { deployed: { body: {}, answer: { vocab_size: 3 } } },
  's3-weights': {
    refused:
      /weights\[0\]\.source: "s3:\/\/my-bucket\/models\/llama-3-8b": cloud buckets are not fetched by Plinth/,
  },
  'weights-outside-app': {
    deployed: { body: {}, answer: { num_layers: 2 } },
    warns: [/weights\[0\]\.mount_location: "\/models\/tiny-llama" is outside \/app/],
  },
  'missing-weights': { failed: 'BUILD_FAILED', reason: /acme\/gone-model.*404/ },
  'vllm-server': {
    failed: 'BUILD_FAILED',
    reason: /pip install failed .*plinth-no-such-package-vllm/,
  },
  'trt-llm-engine': { refused: /trt_llm asks for Baseten's proprietary TensorRT-LLM engine.*docker_server/ },
  'bis-llm-engine': { refused: /bis_llm asks for the Baseten Inference Stack.*docker_server/ },
  'typo-key': { refused: /unknown key "requirments" — did you mean "requirements"\?/ },
  'slash-name': { refused: /model_name "meta-llama\/Llama-3\.1-8B" cannot name a model: .*"\/"/ },
  'unknown-gpu': { refused: /resources: no instance type has a MI300X; GPU kinds: / },
  'no-model-file': { refused: /model\/model\.py/ },
  'grpc-transport': { refused: /runtime\.transport.*expected kind "http" or "websocket"/ },
  'env-list': { refused: /environment_variables\.STOP_TOKENS/ },
  'bad-signature': { failed: 'DEPLOY_FAILED', reason: /predict/ },
  'load-error': { failed: 'DEPLOY_FAILED', reason: /weights file \/models\/llama\.bin not found/ },
};

let platform: Platform;
let hub: FakeHub;
before(async () => {
  // The hub the weights directories download from (HF_ENDPOINT), in place of huggingface.co.
  hub = await FakeHub.start();
  hub.add('acme/tiny-llama', {
    files: {
      'config.json': '{"num_layers": 2}',
      'tokenizer.json': '{"vocab_size": 3}',
      'README.md': '# tiny',
      'model.safetensors': Buffer.alloc(200_000, 7),
    },
    lfs: ['model.safetensors'],
  });
  process.env.HF_ENDPOINT = hub.url;
  // Pretend GPUs, so that the GPU directories are placed as they would be on a GPU machine.
  platform = await startPlatform(undefined, ['--capacity', 'cpu=64,memory=512Gi,gpu=A10G:1,gpu=H100_40GB:1']);
});
after(async () => {
  await platform?.stop();
  await hub?.close();
});

interface PushJson {
  model_id: string;
  deployment_id: string;
  warnings: string[];
}

async function call(modelId: string, c: Call): Promise<{ status: number; text: string }> {
  const base = `${platform.url}/models/${modelId}/environments/production`;
  if (c.path === 'websocket') {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/websocket`, {
      headers: { authorization: `Api-Key ${platform.apiKey}` },
    });
    const text = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send(String(c.body)));
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    });
    ws.close();
    return { status: 200, text };
  }
  const res = await fetch(`${base}/${c.path ?? 'predict'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(c.body),
  });
  return { status: res.status, text: await res.text() };
}

async function pushOne(dir: string, outcome: Outcome): Promise<void> {
  const path = join(FIXTURES, dir);
  const r = await platform.cli(['push', path, ...('deployed' in outcome ? ['--output', 'json'] : [])]);
  if ('refused' in outcome) {
    assert.equal(r.code, 1, `${dir}: refused at push\n${r.stdout}${r.stderr}`);
    // Progress lines (→ Packing …) aside, the refusal is one line.
    const said = r.stderr
      .split('\n')
      .filter((l) => l.trim() && !/^[→✔✖]/.test(l))
      .join('\n');
    assert.match(said, outcome.refused, `${dir}: ${said}`);
    assert.equal(said.split('\n').length, 1, `${dir}: one line\n${said}`);
    return;
  }
  if ('failed' in outcome) {
    assert.notEqual(r.code, 0, `${dir}: fails`);
    const models = await platform.api<{ models: { id: string; name: string }[] }>('GET', '/v1/models');
    const { deployments } = (
      await platform.api<{ deployments: { status: string; status_reason: string | null }[] }>(
        'GET',
        `/v1/models/${encodeURIComponent(nameOf(models.body.models, dir))}/deployments`,
      )
    ).body;
    const reason = deployments[0]?.status_reason ?? '';
    assert.equal(deployments[0]?.status, outcome.failed, `${dir}: ${r.stderr}`);
    assert.match(reason, outcome.reason, `${dir}: ${reason}`);
    assert.match(r.stderr, new RegExp(outcome.failed), `${dir}: ${r.stderr}`);
    return;
  }
  assert.equal(r.code, 0, `${dir}: deploys\n${r.stdout}${r.stderr}`);
  const result = JSON.parse(r.stdout) as PushJson;
  for (const w of outcome.warns ?? [])
    assert.ok(
      result.warnings.some((line) => w.test(line)),
      `${dir}: a warning ${w}: ${result.warnings.join(' | ')}`,
    );
  if (!outcome.warns) assert.deepEqual(result.warnings, [], `${dir}: no warnings`);
  const { status, text } = await call(result.model_id, outcome.deployed);
  assert.equal(status, outcome.deployed.status ?? 200, `${dir}: ${text}`);
  if (outcome.deployed.answer instanceof RegExp)
    assert.match(text, outcome.deployed.answer, `${dir}: ${text}`);
  else assert.deepEqual(JSON.parse(text), outcome.deployed.answer, `${dir}: ${text}`);
  // Out of the way of the next ones (their GPUs and CPUs).
  await platform.api('POST', `/v1/models/${result.model_id}/deployments/${result.deployment_id}/deactivate`);
}

/** The model a fixture directory deploys, by its config's name (the failed ones print no id). */
function nameOf(models: { name: string }[], dir: string): string {
  const byDir: Record<string, string> = {
    'vllm-server': 'Llama 3.1 8B Instruct (vLLM)',
    'missing-weights': 'missing-weights',
    'bad-signature': 'bad-signature',
    'load-error': 'load-error',
  };
  const name = byDir[dir]!;
  assert.ok(
    models.some((m) => m.name === name),
    `${dir}: model ${name} exists`,
  );
  return name;
}

test('every fixture directory has an expected outcome, and there are at least 30', () => {
  const dirs = readdirSync(FIXTURES).sort();
  assert.deepEqual(dirs, Object.keys(EXPECTED).sort());
  assert.ok(dirs.length >= 30, `${dirs.length} directories`);
});

test('each Truss directory deploys and answers, or says why not in one line', async () => {
  const queue = Object.entries(EXPECTED);
  const failures: string[] = [];
  // Three pushes at a time, as a team pushing its models would.
  await Promise.all(
    [0, 1, 2].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await pushOne(next[0], next[1]).catch((err: Error) => failures.push(`${next[0]}: ${err.message}`));
      }
    }),
  );
  assert.deepEqual(failures, []);
  // A refused directory created nothing.
  const { models } = (await platform.api<{ models: { name: string }[] }>('GET', '/v1/models')).body;
  // system_packages are checked, not installed: the build log names the missing one.
  const logs = await platform.cli(['logs', '--model', 'Whisper (system packages)', '--level', 'WARNING']);
  assert.match(logs.stdout, /system_packages.*ffmpeg/, logs.stdout + logs.stderr);
  for (const name of [
    'Llama 3 8B TRT-LLM',
    'bis-llm-engine',
    'typo-key',
    'unknown-gpu',
    'no-model-file',
    'both-requirements',
  ])
    assert.ok(!models.some((m) => m.name === name), `${name} was not created`);
});

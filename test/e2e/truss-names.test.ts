// e2e: model names as Truss writes them (spaces, capitals; unique regardless of case; null → the
// directory's name; `push --model-name`) and environment_variables as Truss coerces them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { pushed, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
let work: string;
before(async () => {
  platform = await startPlatform();
  work = mkdtempSync(join(tmpdir(), 'plinth-names-'));
});
after(async () => {
  await platform?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// Answers the environment variables it was given (absent ones as null).
const MODEL = `export class Model {
  predict() {
    const env = {};
    for (const k of ['WORKERS', 'RATIO', 'DEBUG', 'TOKEN', 'GREETING']) env[k] = process.env[k] ?? null;
    return env;
  }
}
`;
const ENV_YAML =
  'environment_variables:\n  WORKERS: 4\n  RATIO: 0.5\n  DEBUG: true\n  TOKEN: null\n  GREETING: hello\n';
const EXPECTED_ENV = { WORKERS: '4', RATIO: '0.5', DEBUG: 'true', TOKEN: null, GREETING: 'hello' };

interface PushJson {
  model_id: string;
  deployment_id: string;
  model_name: string;
  warnings: string[];
}

function modelDir(dirName: string, config: string): string {
  return writeTree(join(work, dirName), { 'config.yaml': config, 'model/model.ts': MODEL });
}

test('"My Model v2" deploys, is called by name from the CLI and the path form, and is listed', async () => {
  const dir = modelDir('My Model v2', `model_name: "My Model v2"\nrequirements: []\n${ENV_YAML}`);
  const result = (await pushed(platform, dir)) as PushJson;
  assert.equal(result.model_name, 'My Model v2');
  // The null variable is named in one warning line; numbers and booleans are set as strings.
  assert.deepEqual(result.warnings, [
    `${join(dir, 'config.yaml')}: environment_variables.TOKEN is null: the variable is not set`,
  ]);

  const predicted = await platform.cli(['predict', '--model', 'My Model v2', '-d', '{}']);
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.deepEqual(JSON.parse(predicted.stdout), EXPECTED_ENV);

  const res = await fetch(`${platform.url}/models/My%20Model%20v2/environments/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), EXPECTED_ENV);

  const model = await platform.api<{ id: string; name: string }>('GET', '/v1/models/My%20Model%20v2');
  assert.equal(model.status, 200);
  assert.equal(model.body.id, result.model_id);

  const listed = await platform.cli(['models', 'list']);
  assert.equal(listed.code, 0, listed.stderr);
  const row = listed.stdout.split('\n').find((l) => l.startsWith(result.model_id));
  assert.ok(row?.endsWith('  My Model v2'), listed.stdout);
  const json = await platform.cli(['models', 'list', '--output', 'json']);
  const { models } = JSON.parse(json.stdout) as { models: { id: string; name: string }[] };
  assert.ok(models.some((m) => m.id === result.model_id && m.name === 'My Model v2'));
});

test('"my model V2" is refused as the same name in another case, naming the model that holds it', async () => {
  const dir = modelDir('my model V2', 'model_name: "my model V2"\n');
  const r = await platform.cli(['push', dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /model name "my model V2" is taken by model "My Model v2" \(model names are unique regardless of case\)/,
  );
  const models = await platform.api<{ models: { name: string }[] }>('GET', '/v1/models');
  assert.ok(!models.body.models.some((m) => m.name === 'my model V2'));
});

test("model_name: null takes the directory's name; --model-name overrides it", async () => {
  const dir = modelDir('Null Named', `model_name: null\n${ENV_YAML}`);
  const byDir = (await pushed(platform, dir)) as PushJson;
  assert.equal(byDir.model_name, 'Null Named');
  const named = (await pushed(platform, dir, '--model-name', 'Renamed (by flag)')) as PushJson;
  assert.equal(named.model_name, 'Renamed (by flag)');
  assert.notEqual(named.model_id, byDir.model_id);
  const predicted = await platform.cli(['predict', '--model', 'Renamed (by flag)', '-d', '{}']);
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.deepEqual(JSON.parse(predicted.stdout), EXPECTED_ENV);
  const bad = await platform.cli(['push', dir, '--model-name', 'a/b']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--model-name "a\/b" cannot name a model: it contains "\/"/);
});

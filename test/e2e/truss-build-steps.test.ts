// e2e: Truss build steps deploy unchanged — build_commands run at build with the environment active
// (their output in the build log; a failing one fails the build with its output),
// requirements_file as pyproject.toml, requirements with requirements_file refused as Truss refuses
// it, system_packages checked, and external_package_dirs outside the directory importable.
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
  work = mkdtempSync(join(tmpdir(), 'plinth-build-steps-'));
});
after(async () => {
  await platform?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function predict(modelId: string, body: unknown = {}): Promise<Response> {
  return fetch(`${platform.url}/models/${modelId}/environments/production/predict`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
}

async function buildLog(modelName: string, deploymentId: string): Promise<string> {
  const logs = await platform.cli(['logs', '--model', modelName, '--deployment', deploymentId]);
  assert.equal(logs.code, 0, logs.stderr);
  return logs.stdout;
}

test('build_commands run at build with the venv active, their output in the build log; requirements_file is a pyproject.toml', async () => {
  const dir = writeTree(join(work, 'steps'), {
    'config.yaml': [
      'model_name: build-steps',
      'requirements: []',
      'requirements_file: pyproject.toml',
      'build_commands:',
      `  - python -c "import sys, six; open('built.txt', 'w').write(sys.prefix + ' ' + six.__version__)"`,
      '  - echo "a line from the build step"',
      'system_packages: [dpkg, plinth-no-such-package]',
      '',
    ].join('\n'),
    'pyproject.toml':
      '[project]\nname = "build-steps"\nversion = "0.1.0"\ndependencies = [\n  "six",  # from the index\n]\n',
    'model/model.py': [
      'from pathlib import Path',
      'import six',
      '',
      'class Model:',
      '    def predict(self, model_input):',
      "        built = (Path(__file__).parent.parent / 'built.txt').read_text()",
      "        return {'built': built, 'six': six.__version__}",
      '',
    ].join('\n'),
  });
  const { model_id, deployment_id } = await pushed(platform, dir);
  const res = await predict(model_id);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { built: string; six: string };
  const [prefix, sixAtBuild] = body.built.split(' ');
  // The command's python was the deployment's venv, with the pyproject's dependency installed.
  assert.match(prefix!, /[/]environments[/]python-[0-9a-f]{16}$/);
  assert.equal(sixAtBuild, body.six);

  const log = await buildLog('build-steps', deployment_id);
  assert.match(log, /build_commands\[1\]: \$ echo "a line from the build step"/);
  assert.match(log, /a line from the build step/);
  assert.match(log, /system_packages not installed on this machine: plinth-no-such-package —/);
  assert.doesNotMatch(log, /not installed on this machine: dpkg/);

  // Cached with the environment: a second push runs nothing again.
  const again = await pushed(platform, dir, '--deployment-name', 'again');
  const second = await buildLog('build-steps', again.deployment_id);
  assert.match(second, /requirements and build_commands unchanged: reusing cached environment/);
  assert.doesNotMatch(second, /a line from the build step/);
  assert.equal(((await (await predict(model_id)).json()) as { built: string }).built, body.built);
});

test('a failing build command fails the build with its command, exit code and output', async () => {
  const dir = writeTree(join(work, 'failing'), {
    'config.yaml':
      'model_name: failing-step\nbuild_commands:\n  - echo "first step ok"\n  - echo "cannot find the thing" >&2; exit 3\n',
    'model/model.py': 'class Model:\n    def predict(self, model_input):\n        return 1\n',
  });
  const push = await platform.cli(['push', dir]);
  assert.notEqual(push.code, 0);
  assert.match(
    push.stderr,
    /is BUILD_FAILED: build_commands\[1\] `echo "cannot find the thing" >&2; exit 3` failed \(exit 3\): cannot find the thing/,
  );
  const listed = await platform.cli(['deployments', 'list', '--model', 'failing-step', '--output', 'json']);
  const { deployments } = JSON.parse(listed.stdout) as { deployments: { id: string; status: string }[] };
  assert.equal(deployments[0]!.status, 'BUILD_FAILED');
  const log = await buildLog('failing-step', deployments[0]!.id);
  assert.match(log, /first step ok/);
  assert.match(log, /cannot find the thing/);
});

test('requirements together with requirements_file are refused at push, as Truss refuses them', async () => {
  const dir = writeTree(join(work, 'both'), {
    'config.yaml': 'model_name: both-keys\nrequirements: [six]\nrequirements_file: requirements.txt\n',
    'requirements.txt': 'six\n',
    'model/model.py': 'class Model:\n    def predict(self, model_input):\n        return 1\n',
  });
  const push = await platform.cli(['push', dir]);
  assert.notEqual(push.code, 0);
  assert.match(
    push.stderr,
    /config\.yaml: requirements, requirements_file: give only one of them \(Truss refuses both too/,
  );
  assert.doesNotMatch(push.stderr, /\n\s+at /, 'no stack trace');
  const models = await platform.api<{ models: { name: string }[] }>('GET', '/v1/models');
  assert.ok(!models.body.models.some((m) => m.name === 'both-keys'), 'nothing was created');
});

test('external_package_dirs outside the model directory are packed and importable', async () => {
  writeTree(join(work, 'shared_lib'), {
    'shared_helpers/__init__.py': 'GREETING = "hello from outside"\n',
    'top_level_helper.py': 'def double(x):\n    return 2 * x\n',
  });
  const dir = writeTree(join(work, 'uses-shared'), {
    'config.yaml': 'model_name: uses-shared\nexternal_package_dirs:\n  - ../shared_lib\n',
    'model/model.py': [
      'import shared_helpers',
      'from top_level_helper import double',
      '',
      'class Model:',
      '    def predict(self, model_input):',
      "        return {'greeting': shared_helpers.GREETING, 'doubled': double(model_input['x'])}",
      '',
    ].join('\n'),
  });
  const { model_id } = await pushed(platform, dir);
  const res = await predict(model_id, { x: 21 });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { greeting: 'hello from outside', doubled: 42 });

  const missing = writeTree(join(work, 'missing-shared'), {
    'config.yaml': 'model_name: missing-shared\nexternal_package_dirs: [../nowhere]\n',
    'model/model.py': 'class Model:\n    def predict(self, model_input):\n        return 1\n',
  });
  const push = await platform.cli(['push', missing]);
  assert.notEqual(push.code, 0);
  assert.match(push.stderr, /external_package_dirs\[0\]: \.\.\/nowhere is not a directory/);
});

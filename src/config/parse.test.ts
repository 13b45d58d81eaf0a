import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { configJsonSchema } from './json-schema.ts';
import { findModelEntry } from './model-entry.ts';
import { parseConfig } from './parse.ts';
import { execFileSync } from 'node:child_process';
import { customServerOf } from '../domain/custom-server.ts';

function configErrorOf(text: string): string {
  try {
    parseConfig(text);
  } catch (err) {
    assert.ok(err instanceof PlinthError);
    assert.equal(err.code, 'INVALID_CONFIG');
    return err.message;
  }
  assert.fail('expected a config error');
}

test('an empty file gets every default', () => {
  const { config, warnings } = parseConfig('');
  assert.deepEqual(warnings, []);
  assert.equal(config.python_version, 'py311');
  assert.equal(config.model_module_dir, 'model');
  assert.equal(config.model_class_name, 'Model');
  assert.equal(config.bundled_packages_dir, 'packages');
  assert.equal(config.runtime.predict_concurrency, 1);
  assert.deepEqual(config.requirements, []);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.runtime));
});

test('a full Truss config parses', () => {
  const { config } = parseConfig(`
model_name: iris
description: classifier
python_version: py310
requirements: [scikit-learn==1.5.0, numpy]
environment_variables: { DEBUG: true, THREADS: 4 }
secrets: { hf_token: null }
resources: { cpu: "500m", memory: 2Gi, accelerator: "H100:2", use_gpu: true }
runtime: { predict_concurrency: 8 }
external_package_dirs: [../shared]
autoscaling: { min_replica: 0, max_replica: 3 }
`);
  assert.equal(config.model_name, 'iris');
  assert.deepEqual(config.environment_variables, { DEBUG: 'true', THREADS: '4' });
  assert.equal(config.resources.accelerator, 'H100:2');
  assert.equal(config.runtime.predict_concurrency, 8);
  assert.equal(config.autoscaling?.max_replica, 3);
});

test('an unknown key names the key and suggests the nearest known one', () => {
  assert.equal(
    configErrorOf('requirments: [numpy]'),
    'config.yaml: unknown key "requirments" — did you mean "requirements"?',
  );
  assert.match(
    configErrorOf('runtime:\n  predict_concurency: 2'),
    /unknown key "runtime.predict_concurency" — did you mean "runtime.predict_concurrency"/,
  );
  assert.match(configErrorOf('zzzzzzzzzzz: 1'), /unknown key "zzzzzzzzzzz" \(known keys: model_name/);
});

test('a wrong type names the key path', () => {
  assert.match(
    configErrorOf('runtime: { predict_concurrency: "lots" }'),
    /^config.yaml: runtime.predict_concurrency: /,
  );
  assert.match(configErrorOf('requirements: [numpy, 3]'), /^config.yaml: requirements\[1\]: /);
  assert.match(
    configErrorOf('python_version: "3.11"'),
    /python_version: expected a Python version like "py311"/,
  );
  assert.match(
    configErrorOf('resources: { accelerator: "H100:x" }'),
    /resources.accelerator: expected an accelerator/,
  );
  assert.match(
    configErrorOf('autoscaling: { min_replica: 3, max_replica: 2 }'),
    /autoscaling.max_replica: must be at least/,
  );
});

test('Truss keys Plinth does not act on are accepted with a warning that says why', () => {
  const { warnings, config } = parseConfig(
    'live_reload: true\nruntime: { is_websocket_endpoint: true }\nmodel_name: x',
  );
  assert.equal(config.model_name, 'x');
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^config.yaml: live_reload is ignored: use `plinth push --watch`/);
  assert.match(warnings[1]!, /^config.yaml: runtime.is_websocket_endpoint is ignored: Truss infers it/);
});

test('runtime.transport is http or websocket (with its ping settings), as Truss writes it', () => {
  assert.deepEqual(parseConfig('runtime: { transport: { kind: http } }').config.runtime.transport, {
    kind: 'http',
  });
  const ws = parseConfig(
    'runtime:\n  transport:\n    kind: websocket\n    ping_interval_seconds: 5\n    ping_timeout_seconds: 2.5\n',
  );
  assert.deepEqual(ws.config.runtime.transport, {
    kind: 'websocket',
    ping_interval_seconds: 5,
    ping_timeout_seconds: 2.5,
  });
  assert.deepEqual(ws.warnings, []);
  assert.deepEqual(parseConfig('runtime: { transport: websocket }').config.runtime.transport, {
    kind: 'websocket',
  });
  assert.equal(parseConfig('model_name: x').config.runtime.transport, undefined);
  assert.match(
    configErrorOf('runtime: { transport: { kind: grpc } }'),
    /^config.yaml: runtime.transport.kind: expected kind "http" or "websocket" \(Plinth serves no gRPC/,
  );
  assert.match(
    configErrorOf('runtime: { transport: { kind: websocket, ping_timeout_seconds: 0 } }'),
    /^config.yaml: runtime.transport.ping_timeout_seconds: /,
  );
  assert.match(
    configErrorOf('runtime: { transport: { kind: websocket, ping_interval: 5 } }'),
    /runtime.transport: .*"ping_interval"/,
  );
});

test('broken YAML names the line', () => {
  assert.match(configErrorOf('model_name: a\n  bad: [unclosed\n'), /^config.yaml: line \d+: invalid YAML/);
  assert.match(configErrorOf('- a\n- b'), /expected a mapping of keys/);
});

test('the model entry is found and the language inferred', () => {
  const { config } = parseConfig('');
  assert.deepEqual(findModelEntry(new Set(['model/model.ts']), config, 'x'), {
    language: 'typescript',
    file: 'model/model.ts',
  });
  assert.deepEqual(findModelEntry(new Set(['model/model.mjs']), config, 'x'), {
    language: 'typescript',
    file: 'model/model.mjs',
  });
  assert.deepEqual(findModelEntry(new Set(['model/model.py']), config, 'x'), {
    language: 'python',
    file: 'model/model.py',
  });
  assert.throws(
    () => findModelEntry(new Set(['config.yaml']), config, './hello'),
    /no model file in .\/hello: expected model\/model.py \(Python\) or model\/model.ts, model.js or model.mjs/,
  );
  const named = parseConfig('model_module_dir: src\nmodel_class_filename: serve.py').config;
  assert.throws(
    () => findModelEntry(new Set(['model/model.py']), named, 'x'),
    /src\/serve.py not found in x/,
  );
});

test('the JSON Schema is generated from the same schema', () => {
  const schema = configJsonSchema();
  const properties = schema.properties as Record<string, { description?: string }>;
  assert.ok(properties.model_name && properties.resources && properties.autoscaling);
  assert.match(properties.live_reload!.description!, /ignored/);
  assert.equal((schema as { additionalProperties?: boolean }).additionalProperties, false);
});

test('the committed schema/config.schema.json is up to date (npm run schema)', async () => {
  const { readFileSync } = await import('node:fs');
  const committed = JSON.parse(
    readFileSync(new URL('../../schema/config.schema.json', import.meta.url), 'utf8'),
  );
  assert.deepEqual(committed, JSON.parse(JSON.stringify(configJsonSchema())));
});

test("start_command's YAML forms reach sh -c as YAML makes them: plain, folded and literal (several lines, several commands)", () => {
  const forms: [string, string][] = [
    ['start_command: echo plain $PORT', 'plain 9\n'],
    ['start_command: >\n    echo folded\n    $PORT', 'folded 9\n'],
    ['start_command: |\n    echo first\n    echo second $PORT', 'first\nsecond 9\n'],
    ['start_command: "echo quoted \\\n    continued $PORT"', 'quoted continued 9\n'],
  ];
  for (const [line, printed] of forms) {
    const { config } = parseConfig(
      `docker_server:\n  ${line}\n  server_port: 8000\n  predict_endpoint: /p\n  readiness_endpoint: /r\n  liveness_endpoint: /l\n`,
      'config.yaml',
    );
    const server = customServerOf(config as unknown as Record<string, unknown>)!;
    assert.equal(server.perReplicaPort, true, line);
    const out = execFileSync('/bin/sh', ['-c', server.command], {
      env: { PATH: process.env.PATH, PORT: '9' },
    });
    assert.equal(out.toString(), printed, line);
  }
});

test('model_name is any text Truss takes; null means the directory decides', () => {
  assert.equal(parseConfig('model_name: "My Model v2"').config.model_name, 'My Model v2');
  assert.equal(parseConfig('model_name: basic truss').config.model_name, 'basic truss');
  const absent = parseConfig('model_name: null');
  assert.equal(absent.config.model_name, undefined);
  assert.deepEqual(absent.warnings, []);
  // Checked where the name is chosen (plinth push --model-name may stand in for it): src/cli/model-dir.ts.
  assert.equal(parseConfig('model_name: "meta-llama/Llama-3-8B"').config.model_name, 'meta-llama/Llama-3-8B');
});

test('environment_variables as Truss coerces them: numbers and booleans are strings, null is unset (warned)', () => {
  const { config, warnings } = parseConfig(
    'environment_variables:\n  WORKERS: 4\n  RATIO: 0.5\n  DEBUG: true\n  TOKEN: null\n  NAME: x\n',
  );
  assert.deepEqual(config.environment_variables, { WORKERS: '4', RATIO: '0.5', DEBUG: 'true', NAME: 'x' });
  assert.deepEqual(warnings, ['config.yaml: environment_variables.TOKEN is null: the variable is not set']);
});

test('empty and null values raise no warning and take the defaults', () => {
  const { config, warnings } = parseConfig(
    [
      'model_name: null',
      'requirements: []',
      'system_packages: []',
      'build_commands: []',
      'external_package_dirs: []',
      'bundled_packages_dir: null',
      'environment_variables: {}',
      'secrets: {}',
      'model_metadata: {}',
      'description: null',
      'requirements_file: null',
      'base_image: null',
      'live_reload: null',
      'resources: { cpu: "1", accelerator: null }',
      '',
    ].join('\n'),
  );
  assert.deepEqual(warnings, []);
  assert.equal(config.model_name, undefined);
  assert.equal(config.bundled_packages_dir, 'packages');
  assert.deepEqual(config.requirements, []);
  assert.equal(config.base_image, undefined);
  // A key neither Truss nor Plinth knows is still an error, null or not.
  assert.throws(() => parseConfig('no_such_key: null'), /unknown key "no_such_key"/);
  // A non-empty ignored key still warns.
  assert.equal(parseConfig('live_reload: true').warnings.length, 1);
});

test('build_commands and system_packages are real keys: kept, without a warning; package names are checked', () => {
  const { config, warnings } = parseConfig(
    'build_commands:\n  - git clone https://example.com/x.git\n  - cd x && pip install .\nsystem_packages: [ffmpeg, libgl1-mesa-glx, "libc6:amd64", "g++=4:12.2.0-3"]\n',
  );
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.build_commands, ['git clone https://example.com/x.git', 'cd x && pip install .']);
  assert.deepEqual(config.system_packages, ['ffmpeg', 'libgl1-mesa-glx', 'libc6:amd64', 'g++=4:12.2.0-3']);
  assert.throws(
    () => parseConfig('system_packages: [ffmpeg, "--root=/tmp; rm -rf /"]'),
    /^PlinthError: config.yaml: system_packages\[1\]: expected a Debian package name like "ffmpeg"/,
  );
  assert.throws(
    () => parseConfig('system_packages: [FFmpeg]'),
    /system_packages\[0\]: expected a Debian package name/,
  );
  assert.throws(() => parseConfig('build_commands: echo hi'), /^PlinthError: config.yaml: build_commands: /);
  assert.throws(() => parseConfig('build_commands: [""]'), /build_commands\[0\]: /);
});

test('requirements and requirements_file together are refused as Truss refuses them; the file stays inside', () => {
  assert.throws(
    () => parseConfig('requirements: [six]\nrequirements_file: requirements.txt\n'),
    (err: unknown) =>
      err instanceof PlinthError &&
      err.code === 'INVALID_CONFIG' &&
      err.message.startsWith('config.yaml: requirements, requirements_file: give only one of them') &&
      err.message.includes(
        'Please ensure that only one of `requirements` and `requirements_file` is specified',
      ),
  );
  // Truss writes `requirements: []` beside the file: that is no list.
  assert.equal(
    parseConfig('requirements: []\nrequirements_file: pyproject.toml\n').config.requirements_file,
    'pyproject.toml',
  );
  assert.equal(parseConfig('requirements_file: deps/../uv.lock').config.requirements_file, 'deps/../uv.lock');
  for (const outside of ['../requirements.txt', '/etc/passwd', 'a/../../b.txt']) {
    assert.throws(
      () => parseConfig(`requirements_file: ${outside}`),
      new RegExp(
        `^PlinthError: config.yaml: requirements_file: ${outside.replace(/[./]/g, '\\$&')} is outside the model directory$`,
      ),
    );
  }
});

test("Baseten's proprietary engines are refused in one line that names the engine and the way out", () => {
  const trt = configErrorOf(
    'trt_llm:\n  build:\n    base_model: llama\n    checkpoint_repository:\n      source: HF\n',
  );
  assert.match(
    trt,
    /^config\.yaml: trt_llm asks for Baseten's proprietary TensorRT-LLM engine .*docker_server/,
  );
  assert.doesNotMatch(trt, /\n/);
  assert.match(
    configErrorOf('bis_llm:\n  engine: x\n'),
    /^config\.yaml: bis_llm asks for the Baseten Inference Stack.*docker_server/,
  );
  assert.deepEqual(parseConfig('trt_llm: null\n').warnings, [], 'a null engine asks for nothing');
});

test('base_image is accepted with one line that says where it applies', () => {
  for (const extra of [
    '',
    'docker_server:\n  start_command: python serve.py\n  server_port: 8000\n  predict_endpoint: /p\n  readiness_endpoint: /r\n  liveness_endpoint: /l\n',
  ]) {
    const { warnings } = parseConfig(`base_image:\n  image: nvcr.io/nvidia/pytorch:24.01-py3\n${extra}`);
    const said = warnings.filter((w) => w.includes('base_image'));
    assert.equal(said.length, 1);
    assert.match(
      said[0]!,
      /base_image nvcr\.io\/nvidia\/pytorch:24\.01-py3: on the local runtime .*this machine's Python.*on Kubernetes its pods run that image/,
    );
    assert.doesNotMatch(said[0]!, /\n/);
  }
});

test("environment_variables' numbers are the strings Truss's Python makes of them", () => {
  const { config } = parseConfig(
    'environment_variables:\n  A: 1.0\n  B: 0.50\n  C: 3\n  D: 1e3\n  E: -2.5\n',
  );
  assert.deepEqual(config.environment_variables, { A: '1.0', B: '0.5', C: '3', D: '1e3', E: '-2.5' });
});

test('autoscaling.max_scale_down_rate is a whole percent from 1 to 50', () => {
  assert.equal(
    parseConfig('model_name: x\nautoscaling: { max_scale_down_rate: 25 }').config.autoscaling
      ?.max_scale_down_rate,
    25,
  );
  assert.equal(
    configErrorOf('autoscaling: { max_scale_down_rate: 60 }'),
    'config.yaml: autoscaling.max_scale_down_rate: expected a whole percent from 1 to 50, or null for no limit',
  );
});

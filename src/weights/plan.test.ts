import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../config/parse.ts';
import type { PlinthError } from '../domain/errors.ts';
import { appRelative, checkWeightsConfig, mountPath, parseHfSource, planWeights, wanted } from './plan.ts';

const plan = (yaml: string) => planWeights(parseConfig(yaml).config);

test('weights, model_cache and external_data land where Truss puts them, relative to the app dir', () => {
  const { items, warnings } = plan(`
weights:
  - source: hf://org/llama@v1
    mount_location: /app/models/llama
    allow_patterns: ["*.json"]
  - source: https://example.com/files/tok.bin
    mount_location: /models/tok
    auth: {auth_method: CUSTOM_SECRET, auth_secret_name: my_token}
model_cache:
  - repo_id: org/vol
    use_volume: true
    volume_folder: vol
  - repo_id: org/cached
    revision: dev
external_data:
  - url: https://example.com/a.txt
    local_data_path: sub/a.txt
`);
  assert.deepEqual(
    items.map((i) => [i.source, i.dest, i.layout, i.secretName]),
    [
      [{ kind: 'hf', repo: 'org/llama', revision: 'v1' }, 'models/llama', 'flat', 'hf_access_token'],
      [{ kind: 'url', url: 'https://example.com/files/tok.bin' }, 'models/tok/tok.bin', 'flat', 'my_token'],
      [{ kind: 'hf', repo: 'org/vol', revision: 'main' }, 'model_cache/vol', 'flat', 'hf_access_token'],
      [
        { kind: 'hf', repo: 'org/cached', revision: 'dev' },
        '.plinth-hf-cache',
        'hf-cache',
        'hf_access_token',
      ],
      [{ kind: 'url', url: 'https://example.com/a.txt' }, 'data/sub/a.txt', 'flat', null],
    ],
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /weights\[1\]\.mount_location: "\/models\/tok" is outside \/app/);
});

test('hf_cache is read as model_cache; both at once is refused', () => {
  assert.equal(plan('hf_cache:\n  - repo_id: org/x\n').items[0]!.label, 'model_cache[0] (hf://org/x@main)');
  assert.throws(
    () => parseConfig('hf_cache: [{repo_id: a/b}]\nmodel_cache: [{repo_id: a/b}]\n'),
    /hf_cache and model_cache are the same key/,
  );
});

test('paths that would leave the app dir, and sources Plinth cannot fetch, are refused naming the key', () => {
  assert.throws(
    () => plan('external_data:\n  - url: https://x/y\n    local_data_path: ../../etc/x\n'),
    /external_data\[0\]\.local_data_path/,
  );
  assert.throws(
    () => plan('weights:\n  - source: hf://a/b\n    mount_location: /app\n'),
    /is the app directory itself/,
  );
  assert.throws(
    () => plan('weights:\n  - source: s3://bucket/x\n    mount_location: /app/x\n'),
    /weights\[0\]\.source: .*cloud buckets/,
  );
  assert.throws(
    () => plan('model_cache:\n  - repo_id: a/b\n    use_volume: true\n'),
    /model_cache\[0\]\.volume_folder: needed/,
  );
  assert.throws(() => appRelative('/etc', 'k'), /k: "\/etc"/);
  assert.equal(mountPath('/app/./a/b/', 'k', []), 'a/b');
  assert.equal(parseHfSource('hf://../x'), null);
  assert.deepEqual(parseHfSource('hf://gpt2'), { repo: 'gpt2', revision: 'main' });
});

test('allow and ignore patterns match as huggingface_hub matches them', () => {
  assert.ok(wanted('a/b.json', ['*.json'], []));
  assert.ok(!wanted('a/b.bin', ['*.json'], []));
  assert.ok(!wanted('onnx/model.onnx', [], ['onnx/']));
  assert.ok(wanted('model-00001.safetensors', ['model-0000[0-9].safetensors'], []));
  assert.ok(!wanted('x.json', ['*.json'], ['x.*']));
});

test('push checks the plan: a bad item is an INVALID_CONFIG naming its key, a mount outside /app a warning', () => {
  const check = (yaml: string) => checkWeightsConfig(parseConfig(yaml).config, 'm/config.yaml');
  assert.throws(
    () => check('weights:\n  - source: s3://bucket/w\n    mount_location: /app/w\n'),
    (err: PlinthError) =>
      err.code === 'INVALID_CONFIG' &&
      /^m\/config\.yaml: weights\[0\]\.source: "s3:\/\/bucket\/w": cloud buckets/.test(err.message),
  );
  assert.throws(
    () => check('model_cache:\n  - repo_id: org/m\n    use_volume: true\n'),
    /m\/config\.yaml: model_cache\[0\]\.volume_folder: needed when use_volume is true/,
  );
  assert.throws(
    () => check('external_data:\n  - url: https://x.example/z\n    local_data_path: ../../etc/z\n'),
    /m\/config\.yaml: external_data\[0\]\.local_data_path/,
  );
  assert.deepEqual(check('weights:\n  - source: hf://org/llama\n    mount_location: /models/llama\n'), [
    'm/config.yaml: weights[0].mount_location: "/models/llama" is outside /app: Plinth puts the files at models/llama/ in the app directory (read them relative to it)',
  ]);
});

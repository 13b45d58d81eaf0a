// The model name a push uses: --model-name over config.yaml's model_name over the directory's name,
// checked once chosen — so --model-name can stand in for a model_name Plinth cannot take.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeTree } from '../../test/support/write-tree.ts';
import { packModelDir, readModelDir } from './model-dir.ts';

const root = mkdtempSync(join(tmpdir(), 'plinth-model-dir-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('--model-name stands in for a model_name Plinth cannot take; without it, the error names model_name', () => {
  const dir = join(root, 'llama');
  writeTree(dir, {
    'config.yaml': 'model_name: meta-llama/Llama-3-8B\n',
    'model/model.py': 'class Model:\n    def predict(self, x):\n        return x\n',
  });
  assert.equal(readModelDir(dir, 'llama 3').modelName, 'llama 3');
  assert.throws(
    () => readModelDir(dir),
    /model_name "meta-llama\/Llama-3-8B" cannot name a model: it contains "\/"/,
  );
  assert.throws(() => readModelDir(dir, '..'), /--model-name "\.\." cannot name a model: it is only dots/);
});

test('external_package_dirs outside the directory are packed under .plinth/external_packages/<index>; a missing one is refused', async () => {
  const shared = writeTree(join(root, 'shared_lib'), {
    'mylib/__init__.py': 'VALUE = 1\n',
    'mylib/__pycache__/x.pyc': 'junk',
  });
  const dir = writeTree(join(root, 'with-external'), {
    'config.yaml': 'external_package_dirs: [../shared_lib, libs]\n',
    'model/model.py': 'class Model: pass\n',
    'libs/inner.py': 'X = 2\n',
  });
  const model = readModelDir(dir);
  assert.deepEqual(model.externalPackages, [{ dir: shared, prefix: '.plinth/external_packages/0' }]);
  const packed = await packModelDir(model);
  assert.deepEqual(packed.files, [
    'config.yaml',
    'libs/inner.py',
    'model/model.py',
    '.plinth/external_packages/0/mylib/__init__.py',
  ]);
  assert.equal((await packModelDir(readModelDir(dir))).sha256, packed.sha256, 'deterministic');

  const missing = writeTree(join(root, 'missing-external'), {
    'config.yaml': 'external_package_dirs: [../no_such_lib]\n',
    'model/model.py': 'class Model: pass\n',
  });
  assert.throws(
    () => readModelDir(missing),
    /missing-external\/config\.yaml: external_package_dirs\[0\]: \.\.\/no_such_lib is not a directory/,
  );
  // A folder above the model (a monorepo's root) would pack the model's own files under its prefix.
  const nested = writeTree(join(root, 'mono', 'models', 'm'), {
    'config.yaml': 'external_package_dirs: [../..]\n',
    'model/model.py': 'class Model: pass\n',
  });
  assert.throws(
    () => readModelDir(nested),
    /m\/config\.yaml: external_package_dirs\[0\]: \.\.\/\.\. holds the model directory itself/,
  );
});

test('build_commands in a TypeScript model are refused at push, naming the key', () => {
  const dir = writeTree(join(root, 'ts-build'), {
    'config.yaml': 'build_commands: [echo hi]\n',
    'model/model.ts': 'export class Model { predict() { return 1; } }\n',
  });
  assert.throws(
    () => readModelDir(dir),
    /ts-build\/config\.yaml: build_commands: run for Python models only/,
  );
});

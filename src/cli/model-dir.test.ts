// The model name a push uses: --model-name over config.yaml's model_name over the directory's name,
// checked once chosen — so --model-name can stand in for a model_name Plinth cannot take.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeTree } from '../../test/support/write-tree.ts';
import { readModelDir } from './model-dir.ts';

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

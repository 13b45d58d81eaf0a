import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../config/parse.ts';
import { unpatchableChanges } from './patch-scope.ts';

const config = (yaml: string) => parseConfig(yaml, 'config.yaml').config;

test('code-level config changes reload; a new interpreter, model or instance needs a push', () => {
  const before = config('model_name: m\npython_version: py311\nresources:\n  cpu: "1"\n');
  assert.deepEqual(
    unpatchableChanges(
      before,
      config(
        'model_name: m\npython_version: py311\nresources:\n  cpu: "1"\nrequirements:\n  - six\nenvironment_variables:\n  A: b\n',
      ),
    ),
    [],
  );
  assert.deepEqual(
    unpatchableChanges(
      before,
      config('model_name: m\npython_version: py312\nresources:\n  cpu: "2"\n  memory: 2Gi\n'),
    ),
    ['python_version', 'resources.cpu', 'resources.memory'],
  );
  assert.deepEqual(
    unpatchableChanges(before, config('model_name: other\npython_version: py311\nresources:\n  cpu: "1"\n')),
    ['model_name'],
  );
});

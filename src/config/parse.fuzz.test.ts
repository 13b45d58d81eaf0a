// Property test: whatever text config.yaml holds, parsing either gives a config or a clear error
// naming the file — never a crash or another kind of error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { PlinthError } from '../domain/errors.ts';
import { random } from '../../test/support/fuzz.ts';
import { parseConfig } from './parse.ts';

const KEYS = [
  'model_name',
  'python_version',
  'requirements',
  'resources',
  'runtime',
  'autoscaling',
  'secrets',
  'environment_variables',
  'language',
  'model_class_name',
  'data_dir',
  'base_image',
  'requirments',
];

test('config.yaml: any document parses to a config or to an error naming the file', () => {
  for (let seed = 1; seed <= 600; seed++) {
    const r = random(seed);
    let text: string;
    if (seed % 3 === 0) text = r.string(200);
    else {
      const doc: Record<string, unknown> = {};
      for (let i = 0; i < r.int(6); i++) doc[r.pick(KEYS)] = r.next() < 0.5 ? r.value() : r.value(1);
      text = stringify(doc);
      if (seed % 5 === 0) text = text.slice(0, r.int(text.length + 1));
    }
    try {
      const { config } = parseConfig(text, 'config.yaml');
      assert.equal(typeof config, 'object', `seed ${seed}`);
    } catch (err) {
      assert.ok(err instanceof PlinthError, `seed ${seed}: ${String(err)}`);
      assert.equal(err.code, 'INVALID_CONFIG', `seed ${seed}`);
      assert.match(err.message, /^config\.yaml: /, `seed ${seed}: ${err.message}`);
    }
  }
});

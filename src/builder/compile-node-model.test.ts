import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { writeTree } from '../../test/support/write-tree.ts';
import { compileNodeModel } from './compile-node-model.ts';
import { BuildError } from './node-environment.ts';

const root = scratchDir('compile');

const app = (name: string, files: Record<string, string>): string => writeTree(join(root, name), files);

test('a TypeScript model with local imports compiles to one ES module beside its entry', async () => {
  const dir = app('ts', {
    'model/model.ts':
      "import { double } from './math';\nexport class Model { predict(x: number): number { return double(x); } }\n",
    'model/math.ts': 'export const double = (n: number): number => n * 2;\n',
  });
  const out = await compileNodeModel(dir, 'model/model.ts');
  assert.equal(out, 'model/.plinth-model.mjs');
  const mod = (await import(pathToFileURL(join(dir, out)).href)) as {
    Model: new () => { predict(x: number): number };
  };
  assert.equal(new mod.Model().predict(21), 42);
});

test('a CommonJS model is compiled too', async () => {
  const dir = app('cjs', {
    'model/model.js': 'class Model { predict() { return "cjs"; } }\nmodule.exports = { Model };\n',
  });
  const mod = (await import(
    pathToFileURL(join(dir, await compileNodeModel(dir, 'model/model.js'))).href
  )) as {
    default: { Model: new () => { predict(): string } };
  };
  assert.equal(new mod.default.Model().predict(), 'cjs');
});

test('a syntax error fails the build naming file, line and column', async () => {
  const dir = app('broken', { 'model/model.ts': 'export class Model {\n  predict( { return 1 }\n}\n' });
  await assert.rejects(compileNodeModel(dir, 'model/model.ts'), (err: unknown) => {
    assert.ok(err instanceof BuildError);
    assert.match(err.message, /^cannot compile model\/model\.ts: model\/model\.ts:2:\d+: /);
    return true;
  });
});

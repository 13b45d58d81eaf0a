// e2e: development deployments that live-reload. `plinth push --watch` runs in the background
// while the model file is edited: the next answers come from the new code, a client sending
// without pause sees no failed request, a syntax error keeps the old code answering (and the
// watch shows the error), fixing it recovers, and adding a requirement rebuilds and then serves.
import { sleep, until } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { load, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-dev-'));

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function predict(model: string): Promise<Answer> {
  try {
    const res = await fetch(`${platform.url}/models/${model}/development/predict`, {
      method: 'POST',
      body: '{}',
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch (err) {
    return { status: 0, body: { error: String(err) } };
  }
}

interface Language {
  model: string;
  modelFile: string;
  files: Record<string, string>;
  version(n: number): string;
  broken: string;
  brokenError: RegExp;
  /** Files that add a requirement, and how to tell that the answer used it. */
  requirement: Record<string, string>;
  usesRequirement(a: Answer): boolean;
}

const typescript: Language = {
  model: 'devts',
  modelFile: 'model/model.ts',
  files: { 'config.yaml': 'model_name: devts\n' },
  version: (n) => `export class Model {\n  predict() {\n    return { version: ${n} };\n  }\n}\n`,
  broken: 'export class Model {\n  predict() {\n    return { version: ;\n  }\n}\n',
  brokenError: /did not build[\s\S]*model\/model\.ts:3/,
  requirement: {
    'package.json': JSON.stringify({ name: 'devts', private: true, dependencies: { ms: '2.1.3' } }),
    'model/model.ts':
      "import ms from 'ms';\nexport class Model {\n  predict() {\n    return { version: 4, hour_ms: ms('1h') };\n  }\n}\n",
  },
  usesRequirement: (a) => a.body.hour_ms === 3_600_000,
};

const python: Language = {
  model: 'devpy',
  modelFile: 'model/model.py',
  files: { 'config.yaml': 'model_name: devpy\n' },
  version: (n) => `class Model:\n    def predict(self, model_input):\n        return {"version": ${n}}\n`,
  broken: 'class Model:\n    def predict(self, model_input):\n        return {"version": 9\n',
  brokenError: /did not load[\s\S]*SyntaxError/,
  requirement: {
    'config.yaml': 'model_name: devpy\nrequirements:\n  - six\n',
    'model/model.py':
      'import six\n\n\nclass Model:\n    def predict(self, model_input):\n        return {"version": 4, "six": six.__version__}\n',
  },
  usesRequirement: (a) => typeof a.body.six === 'string',
};

for (const lang of [typescript, python]) {
  test(`${lang.model}: push --watch reloads edits with no failed request, survives a syntax error, rebuilds for a requirement`, async () => {
    const dir = writeTree(join(scratch, lang.model), { ...lang.files, [lang.modelFile]: lang.version(1) });
    const watch = platform.background(['push', '--watch', dir]);
    let traffic: ReturnType<typeof load<Answer>> | undefined;
    try {
      await watch.waitFor(/Watching/, 120_000);
      assert.equal((await predict(lang.model)).body.version, 1);
      traffic = load(2, () => predict(lang.model));

      writeFileSync(join(dir, lang.modelFile), lang.version(2));
      await until(
        `an answer from ${lang.model}`,
        () => predict(lang.model),
        (a) => a.body.version === 2,
        30_000,
      );
      await watch.waitFor(/✔ reloaded in \d+ ms/);
      const events = await platform.api<{ events: { to: string; reason: string }[] }>(
        'GET',
        `/v1/models/${lang.model}/deployments/development/events`,
      );
      assert.deepEqual(
        events.body.events.slice(-2).map((e) => [e.to, e.reason]),
        [
          ['UPDATING', 'applying a patch'],
          ['ACTIVE', 'patch applied'],
        ],
      );

      const mark = watch.output().length;
      writeFileSync(join(dir, lang.modelFile), lang.broken);
      await watch.waitFor(/reload failed/, 60_000, mark);
      assert.match(watch.output().slice(mark), lang.brokenError, 'the watch shows the error');
      for (let i = 0; i < 5; i++)
        assert.equal((await predict(lang.model)).body.version, 2, 'the old code answers');

      writeFileSync(join(dir, lang.modelFile), lang.version(3));
      await until(
        `an answer from ${lang.model}`,
        () => predict(lang.model),
        (a) => a.body.version === 3,
        30_000,
      );

      for (const [path, content] of Object.entries(lang.requirement)) writeFileSync(join(dir, path), content);
      await until(`an answer from ${lang.model}`, () => predict(lang.model), lang.usesRequirement, 240_000);

      const answers = await traffic.stop();
      assert.ok(answers.length > 20, `the client kept sending (${answers.length} requests)`);
      assert.deepEqual(
        answers.filter((a) => a.status !== 200),
        [],
        'no failed request during any reload',
      );
      const versions = answers.map((a) => a.body.version);
      assert.ok(versions.includes(1) && versions.includes(3), 'the client saw the code change under it');
    } finally {
      // A failed assertion must not leave the clients sending forever.
      await traffic?.stop();
      await watch.stop();
    }
  });
}

test('the development deployment cannot be promoted', async () => {
  const refused = await platform.api<{ error: { message: string } }>(
    'POST',
    '/v1/models/devts/deployments/development/promote',
  );
  assert.equal(refused.status, 400);
  assert.match(refused.body.error.message, /development deployment cannot be promoted/);
  const cli = await platform.cli(['push', '--watch', '--promote', join(scratch, 'devts')]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /development deployment cannot be promoted/);
  const settings = await platform.api<{ error: { message: string } }>(
    'PATCH',
    '/v1/models/devts/deployments/development/autoscaling_settings',
    { max_replica: 2 },
  );
  assert.equal(settings.status, 400);
  assert.match(settings.body.error.message, /at most 1 replica/);
});

test('plinth watch attaches to the development deployment, syncs what changed meanwhile, and keeps it awake', async () => {
  const dir = join(scratch, 'devts');
  writeFileSync(join(dir, typescript.modelFile), typescript.version(5));
  const set = await platform.api('PATCH', '/v1/models/devts/deployments/development/autoscaling_settings', {
    autoscaling_window: 1,
    scale_down_delay: 0,
  });
  assert.equal(set.status, 200);
  const watch = platform.background(['watch', dir]);
  try {
    await watch.waitFor(/Watching/, 60_000);
    assert.equal((await predict('devts')).body.version, 5, 'the edit made while no watch ran was synced');
    await sleep(4000);
    const d = await platform.api<{ status: string; active_replica_count: number }>(
      'GET',
      '/v1/models/devts/deployments/development',
    );
    assert.deepEqual(
      [d.body.status, d.body.active_replica_count],
      ['ACTIVE', 1],
      'idle, but awake while watched',
    );

    const mark = watch.output().length;
    writeFileSync(join(dir, 'config.yaml'), 'model_name: devts\nresources:\n  cpu: "2"\n');
    await watch.waitFor(/cannot be live-patched \(resources\.cpu\): run `plinth push`/, 30_000, mark);
    writeFileSync(join(dir, 'config.yaml'), typescript.files['config.yaml']!);
    assert.equal((await predict('devts')).body.version, 5, 'still serving');
  } finally {
    await watch.stop();
  }

  const none = await platform.cli([
    'watch',
    writeTree(join(scratch, 'nodev'), {
      'config.yaml': 'model_name: nodev\n',
      'model/model.ts': typescript.version(1),
    }),
  ]);
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /model nodev has no development deployment; create one with `plinth push --watch/,
  );
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBackendSuite } from '../backend-suite.ts';
import { LocalBackend } from './local-backend.ts';

for (const nodeStandbys of [0, 1]) {
  runBackendSuite(nodeStandbys ? 'local, starting from a standby pool' : 'local', async () => {
    const root = mkdtempSync(join(tmpdir(), 'plinth-local-'));
    let n = 0;
    return {
      backend: new LocalBackend({ onLog: () => {}, nodeStandbys }),
      specFor(source, deploymentId = 'd-test') {
        const appDir = join(root, `app-${++n}`);
        mkdirSync(join(appDir, 'model'), { recursive: true });
        writeFileSync(join(appDir, 'model', 'model.mjs'), source);
        return {
          replicaId: `r-${n}`,
          deploymentId,
          modelId: 'm-test',
          language: 'typescript',
          appDir,
          modelFile: 'model/model.mjs',
          config: { runtime: { predict_concurrency: 4 } },
          env: {},
          envDir: null,
        };
      },
      async cleanup() {
        rmSync(root, { recursive: true, force: true });
      },
    };
  });
}

test('a replica start takes over a pre-started process, with its own environment and directory', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-standby-'));
  const backend = new LocalBackend({ onLog: () => {}, nodeStandbys: 1 });
  try {
    const appDir = join(root, 'app');
    mkdirSync(join(appDir, 'model'), { recursive: true });
    writeFileSync(
      join(appDir, 'model', 'model.mjs'),
      'export class Model { predict() { return { ageMs: process.uptime() * 1000, greeting: process.env.GREETING, cwd: process.cwd() }; } }',
    );
    await new Promise((r) => setTimeout(r, 1500)); // the standby boots meanwhile
    const startedAtMs = Date.now();
    const ready = new Promise<string>((resolve) =>
      backend.watch((e) => {
        if (e.type === 'ready') resolve(e.replica.address!);
      }),
    );
    await backend.start({
      replicaId: 'r-standby',
      deploymentId: 'd-standby',
      modelId: 'm',
      language: 'typescript',
      appDir,
      modelFile: 'model/model.mjs',
      config: {},
      env: { GREETING: 'hi' },
      envDir: null,
    });
    const res = await fetch(`http://${await ready}/v1/models/model:predict`, { method: 'POST', body: '{}' });
    const body = (await res.json()) as { ageMs: number; greeting: string; cwd: string };
    assert.equal(body.greeting, 'hi');
    assert.equal(body.cwd, appDir);
    assert.ok(body.ageMs > Date.now() - startedAtMs, 'the process existed before start() was called');
  } finally {
    await backend.close();
    rmSync(root, { recursive: true, force: true });
  }
});

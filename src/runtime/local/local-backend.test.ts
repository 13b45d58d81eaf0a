import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBackendSuite } from '../backend-suite.ts';
import { PendingError } from '../backend.ts';
import type { ReplicaEvent, ReplicaResources } from '../backend.ts';
import { LocalBackend } from './local-backend.ts';

const SMALL: ReplicaResources = {
  instanceType: '1x2',
  cpuMillis: 1000,
  memoryBytes: 2 * 1024 ** 3,
  accelerator: null,
};

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
          resources: SMALL,
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
      resources: SMALL,
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

/** A backend on a pretend machine with one L4, and a model that answers with what it was given. */
function gpuBox(root: string) {
  const backend = new LocalBackend({
    onLog: () => {},
    nodeStandbys: 0,
    capacity: { cpu: 2, memoryBytes: 8 * 1024 ** 3, gpus: [{ index: 0, kind: 'L4' }] },
  });
  const specFor = (id: string, resources: ReplicaResources, source: string) => {
    const appDir = join(root, id);
    mkdirSync(join(appDir, 'model'), { recursive: true });
    writeFileSync(join(appDir, 'model', 'model.mjs'), source);
    return {
      replicaId: id,
      deploymentId: `d-${id}`,
      modelId: 'm',
      language: 'typescript' as const,
      appDir,
      modelFile: 'model/model.mjs',
      config: {},
      env: {},
      envDir: null,
      resources,
    };
  };
  const next = (id: string, type: ReplicaEvent['type']) =>
    new Promise<ReplicaEvent>((resolve) => {
      const off = backend.watch((e) => {
        if (e.replica.id === id && e.type === type) {
          off();
          resolve(e);
        }
      });
    });
  return { backend, specFor, next };
}

const L4: ReplicaResources = {
  instanceType: 'L4:4x16',
  cpuMillis: 2000,
  memoryBytes: 4 * 1024 ** 3,
  accelerator: { kind: 'L4', count: 1 },
};
const SHOW_GPUS = 'export class Model { predict() { return { cuda: process.env.CUDA_VISIBLE_DEVICES }; } }';

test('GPUs are placed exclusively: a second GPU replica is pending with the reason until the first stops', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-gpu-'));
  const { backend, specFor, next } = gpuBox(root);
  try {
    const readyA = next('a', 'ready');
    const a = await backend.start(specFor('a', L4, SHOW_GPUS));
    assert.deepEqual(a.gpus, [0]);
    const address = (await readyA).replica.address!;
    const answer = await fetch(`http://${address}/v1/models/model:predict`, { method: 'POST', body: '{}' });
    assert.deepEqual(await answer.json(), { cuda: '0' });
    await assert.rejects(
      backend.start(specFor('b', L4, SHOW_GPUS)),
      (err: unknown) => err instanceof PendingError && err.reason === 'needs 1× L4, 0 of 1 free',
    );
    const cpuOnly = await backend.start(specFor('c', SMALL, SHOW_GPUS));
    assert.deepEqual(cpuOnly.gpus, [], 'a CPU-only replica gets no GPU');
    await backend.stop('a', { drainMs: 2000 });
    const b = await backend.start(specFor('b', L4, SHOW_GPUS));
    assert.deepEqual(b.gpus, [0], 'the GPU came back when the first replica stopped');
  } finally {
    await backend.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a replica that uses more memory than its instance type is stopped with an out-of-memory reason', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-oom-'));
  const { backend, specFor, next } = gpuBox(root);
  try {
    const tiny: ReplicaResources = {
      instanceType: 'tiny',
      cpuMillis: 500,
      memoryBytes: 96 * 1024 ** 2,
      accelerator: null,
    };
    const hog =
      'export class Model { async load() { globalThis.hog = Buffer.alloc(256 * 1024 * 1024, 1); await new Promise((r) => setTimeout(r, 5000)); } predict() { return {}; } }';
    const exited = next('hog', 'exited');
    await backend.start(specFor('hog', tiny, hog));
    const event = await exited;
    assert.equal(event.type, 'exited');
    if (event.type !== 'exited') return;
    assert.equal(event.exit.expected, false);
    assert.match(
      event.exit.reason,
      /^out of memory: the replica used \d+(\.\d)?Mi, more than its instance type's 96Mi$/,
    );
  } finally {
    await backend.close();
    rmSync(root, { recursive: true, force: true });
  }
});

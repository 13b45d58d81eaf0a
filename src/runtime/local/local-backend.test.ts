import { isAlive } from '../../../test/support/process-alive.ts';
import { jsModelSpec, SMALL } from '../../../test/support/replica-specs.ts';
import { sleep, until } from '../../../test/support/wait.ts';
import { callReplica } from '../../../test/support/call-replica.ts';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBackendSuite, waitFor } from '../backend-suite.ts';
import { PendingError } from '../backend.ts';
import type { ReplicaEvent, ReplicaHandle, ReplicaResources, ReplicaSpec } from '../backend.ts';
import { LocalBackend } from './local-backend.ts';

/** A backend that has taken on what its directory held (nothing, in a fresh one) and may start replicas. */
function adopted(backend: LocalBackend): LocalBackend {
  backend.adopt();
  return backend;
}

for (const nodeStandbys of [0, 1]) {
  runBackendSuite(nodeStandbys ? 'local, starting from a standby pool' : 'local', async () => {
    const root = mkdtempSync(join(tmpdir(), 'plinth-local-'));
    let n = 0;
    return {
      backend: adopted(new LocalBackend({ onLog: () => {}, nodeStandbys, runDir: join(root, 'run') })),
      specFor(source, deploymentId = 'd-test') {
        n++;
        return jsModelSpec(join(root, `app-${n}`), source, { replicaId: `r-${n}`, deploymentId });
      },
      async cleanup() {
        rmSync(root, { recursive: true, force: true });
      },
    };
  });
}

test('a replica start takes over a pre-started process, with its own environment and directory', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-standby-'));
  const backend = adopted(new LocalBackend({ onLog: () => {}, nodeStandbys: 1, runDir: join(root, 'run') }));
  try {
    const appDir = join(root, 'app');
    mkdirSync(join(appDir, 'model'), { recursive: true });
    writeFileSync(
      join(appDir, 'model', 'model.mjs'),
      'export class Model { predict() { return { ageMs: process.uptime() * 1000, greeting: process.env.GREETING, cwd: process.cwd() }; } }',
    );
    await sleep(1500); // the standby boots meanwhile
    const startedAtMs = Date.now();
    const ready = new Promise<ReplicaHandle>((resolve) =>
      backend.watch((e) => {
        if (e.type === 'ready') resolve(e.replica);
      }),
    );
    await backend.start({
      replicaId: 'r-standby',
      deploymentId: 'd-standby',
      modelId: 'm',
      revision: 0,
      language: 'typescript',
      appDir,
      modelFile: 'model/model.mjs',
      config: {},
      env: { GREETING: 'hi' },
      envDir: null,
      resources: SMALL,
    });
    const res = await callReplica(await ready, {});
    const body = (await res.json()) as { ageMs: number; greeting: string; cwd: string };
    assert.equal(body.greeting, 'hi');
    assert.equal(body.cwd, appDir);
    assert.ok(body.ageMs > Date.now() - startedAtMs, 'the process existed before start() was called');
  } finally {
    await backend.close();
    rmSync(root, { recursive: true, force: true });
  }
});

/** A replica spec for a one-file JavaScript model written under `root/<id>`. */
function modelSpec(root: string, id: string, resources: ReplicaResources, source: string): ReplicaSpec {
  const appDir = join(root, id);
  mkdirSync(join(appDir, 'model'), { recursive: true });
  writeFileSync(join(appDir, 'model', 'model.mjs'), source);
  return {
    replicaId: id,
    deploymentId: `d-${id}`,
    modelId: 'm',
    revision: 0,
    language: 'typescript',
    appDir,
    modelFile: 'model/model.mjs',
    config: {},
    env: {},
    envDir: null,
    resources,
  };
}

/** A backend on a pretend machine with one L4, and a model that answers with what it was given. */
function gpuBox(root: string) {
  const backend = adopted(
    new LocalBackend({
      onLog: () => {},
      nodeStandbys: 0,
      runDir: join(root, 'run'),
      capacity: { cpu: 2, memoryBytes: 8 * 1024 ** 3, gpus: [{ index: 0, kind: 'L4' }] },
    }),
  );
  const specFor = (id: string, resources: ReplicaResources, source: string) =>
    modelSpec(root, id, resources, source);
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
    const answer = await callReplica((await readyA).replica, {});
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

/** Starts a replica from a separate "server" process, which is then killed as a crash would. */
async function replicaOfACrashedServer(root: string, graceS: number, resources: ReplicaResources) {
  const spec = modelSpec(
    root,
    'r-left',
    resources,
    'export class Model { load() { console.log("loaded"); } predict(input) { console.log(`predicted ${input.n}`); return { pid: process.pid }; } }',
  );
  const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'short-lived-server.ts');
  const server = spawn(
    process.execPath,
    ['--import', 'tsx', fixture, join(root, 'run'), String(graceS), JSON.stringify(spec)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const first = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    server.once('exit', (code) => reject(new Error(`the fixture server exited with ${code}`)));
  });
  const replica = JSON.parse(first) as { pid: number; address: string; token: string };
  const killed = new Promise((r) => server.once('exit', r));
  server.kill('SIGKILL');
  await killed;
  return replica;
}

test('a replica left by a crashed server is adopted: same process, its GPU held, its output followed, stopped on request', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-adopt-'));
  const lines: string[] = [];
  let backend: LocalBackend | undefined;
  try {
    const left = await replicaOfACrashedServer(root, 2, L4);
    const call = async (n: number) => {
      const res = await callReplica(left, { n });
      return (await res.json()) as { pid: number };
    };
    assert.equal((await call(1)).pid, left.pid, 'it serves while no server runs');

    backend = new LocalBackend({
      onLog: (_spec, _stream, line) => lines.push(line),
      runDir: join(root, 'run'),
      nodeStandbys: 0,
      capacity: { cpu: 2, memoryBytes: 8 * 1024 ** 3, gpus: [{ index: 0, kind: 'L4' }] },
    });
    const ready = new Promise<ReplicaEvent>((resolve) =>
      backend!.watch((e) => e.type === 'ready' && resolve(e)),
    );
    const adopted = backend.adopt();
    assert.deepEqual(
      adopted.map((r) => [r.id, r.deploymentId, r.pid, r.gpus]),
      [['r-left', 'd-r-left', left.pid, [0]]],
    );
    const { replica } = await ready;
    assert.equal(replica.address, left.address);
    assert.equal(replica.token, left.token, 'it keeps its token: gateways can go on calling it');
    assert.deepEqual(
      backend.list().map((r) => [r.id, r.phase]),
      [['r-left', 'READY']],
    );
    await assert.rejects(
      backend.start(modelSpec(root, 'r-new', L4, SHOW_GPUS)),
      (err: unknown) => err instanceof PendingError && err.reason === 'needs 1× L4, 0 of 1 free',
      'the adopted replica still holds the GPU',
    );

    await call(2);
    await until('the output followed', () => lines.includes('predicted 2'), Boolean, 15_000, 50);
    assert.ok(lines.includes('predicted 1'), 'what it printed while no server ran is passed on');
    assert.ok(!lines.includes('loaded'), 'what the crashed server passed on is not repeated');
    await new Promise((r) => setTimeout(r, 3000)); // past the 2 s grace period
    assert.ok(isAlive(left.pid), 'an adopted replica does not end with the grace period');

    const exited = new Promise<ReplicaEvent>((resolve) =>
      backend!.watch((e) => e.type === 'exited' && resolve(e)),
    );
    await backend.stop('r-left', { drainMs: 2000 });
    const exit = await exited;
    assert.equal(exit.type === 'exited' && exit.exit.expected, true, 'an asked-for stop');
    await until('gone', () => !isAlive(left.pid), Boolean, 15_000, 50);
    assert.deepEqual(readdirSync(join(root, 'run')), [], 'nothing is left of it on disk');
  } finally {
    await backend?.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a replica no server adopts ends after the grace period, and a later server finds nothing to adopt', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-grace-'));
  try {
    const left = await replicaOfACrashedServer(root, 1, SMALL);
    assert.ok(isAlive(left.pid), 'it outlives its server');
    await until('ended', () => !isAlive(left.pid), Boolean, 15_000, 50);
    const backend = new LocalBackend({ onLog: () => {}, runDir: join(root, 'run'), nodeStandbys: 0 });
    assert.deepEqual(backend.adopt(), []);
    assert.equal(existsSync(join(root, 'run', 'r-left.json')), false, 'its record is cleared');
    await backend.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const PROBE = `import { readdirSync, readFileSync } from 'node:fs';
export class Model {
  predict({ paths }) {
    const got = {};
    for (const p of paths) {
      try { got[p] = readdirSync(p).length >= 0 ? 'read' : 'read'; }
      catch (err) {
        if (err.code !== 'ENOTDIR') { got[p] = err.code; continue; }
        try { readFileSync(p); got[p] = 'read'; } catch (e) { got[p] = e.code; }
      }
    }
    return { uid: process.getuid(), got };
  }
}`;

for (const mountNamespace of [true, false]) {
  test(
    `as root, a replica runs as its own user and reads only its own files (${mountNamespace ? 'mount namespace' : 'file modes only'})`,
    {
      skip: process.getuid?.() !== 0 && 'needs root',
    },
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'plinth-user-'));
      const home = join(root, 'home');
      // Another deployment's app directory, as extraction leaves it (0700), and a key made 0644.
      mkdirSync(join(home, 'deployments', 'd-other', 'app'), { recursive: true, mode: 0o700 });
      writeFileSync(join(home, 'secret.key'), 'k', { mode: 0o644 });
      const backend = adopted(
        new LocalBackend({
          onLog: () => {},
          runDir: join(home, 'run', 'replicas'),
          sandbox: { kind: 'user', mountNamespace },
        }),
      );
      try {
        assert.match(
          backend.describe(),
          /replicas are isolated: each deployment's replicas run as their own unprivileged user/,
        );
        const spec = jsModelSpec(join(home, 'deployments', 'd-mine', 'app'), PROBE, {
          replicaId: 'r-mine',
          deploymentId: 'd-mine',
          // The model's own variables cannot make it root again.
          env: { PLINTH_REPLICA_UID: '0', PLINTH_REPLICA_GID: '0' },
        });
        if (!mountNamespace) {
          // Without a mount namespace its user must be able to cross every directory on the way.
          const exited = waitFor(backend, (e) => e.type === 'exited');
          await backend.start(spec);
          const { exit } = (await exited).replica;
          assert.match(exit!.reason, /cannot reach .*: .* is closed to other users/);
          chmodSync(root, 0o711);
        }
        const ready = waitFor(backend, (e) => e.type === 'ready');
        await backend.start(spec);
        const { replica } = await ready;
        const paths = [
          join(home, 'secret.key'),
          join(home, 'deployments', 'd-other', 'app'),
          join(home, 'run', 'replicas', 'r-mine.out'),
          spec.appDir,
          join(spec.appDir, 'model', 'model.mjs'),
        ];
        const res = await callReplica(replica, { paths });
        const body = (await res.json()) as { uid: number; got: Record<string, string> };
        assert.ok(body.uid >= 0x7000_0000, `runs as uid ${body.uid}`);
        for (const refused of paths.slice(0, 3))
          assert.match(body.got[refused]!, /^(ENOENT|EACCES)$/, refused);
        for (const own of paths.slice(3)) assert.equal(body.got[own], 'read', own);
      } finally {
        await backend.close();
        rmSync(root, { recursive: true, force: true });
      }
    },
  );
}

// Replica start on the kubernetes backend, against the fake cluster (pods as local processes):
// start() → ready, split into the pod appearing (API round trips, the Deployment controller and
// the scheduler), the init container fetching the build (`plinth fetch-artifacts`: a CLI start and
// an HTTP download) and the model server starting. Baseline in the same run: the same model on the
// local backend (a process, no pre-started pool). On a real cluster add image pulls and the
// kubelet's own latencies; this measures what Plinth adds. Run: node --import tsx bench/kubernetes-start.ts [--runs 5]
import { jsModelSpec } from '../test/support/replica-specs.ts';
import { kubeConfigAt } from '../test/support/kubernetes/backend-rig.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveDirectory } from '../src/bundle/directory-archive.ts';
import type { ReplicaSpec, RuntimeBackend } from '../src/runtime/backend.ts';
import { FakeCluster } from '../test/support/kubernetes/fake-cluster.ts';
import { KubernetesBackend } from '../src/runtime/kubernetes/kubernetes-backend.ts';
import { plinthImageTable, TEST_IMAGES } from '../test/support/kubernetes/plinth-images.ts';
import { LocalBackend } from '../src/runtime/local/local-backend.ts';

const runsArg = process.argv.indexOf('--runs');
const runs = runsArg === -1 ? 5 : Number(process.argv[runsArg + 1]);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const root = mkdtempSync(join(tmpdir(), 'plinth-bench-k8s-'));
const appDir = join(root, 'app');
let n = 0;
const spec = (): ReplicaSpec =>
  jsModelSpec(appDir, 'export class Model { predict(x) { return x; } }\n', {
    replicaId: `r-${++n}`,
    deploymentId: 'd-bench',
    modelId: 'm-bench',
    config: {},
  });

/** start() → the ready event, `runs` times, each replica stopped before the next. */
async function timeStarts(
  backend: RuntimeBackend,
  marks?: () => Record<string, number>,
): Promise<number[][]> {
  const rows: number[][] = [];
  for (let i = 0; i < runs; i++) {
    const s = spec();
    const t0 = performance.now();
    const ready = new Promise<void>((resolve) => {
      const stop = backend.watch((e) => {
        if (e.type === 'ready' && e.replica.id === s.replicaId) {
          stop();
          resolve();
        }
      });
    });
    await backend.start(s);
    await ready;
    const total = performance.now() - t0;
    rows.push([total, ...Object.values(marks?.() ?? {}).map((t) => t - t0)]);
    await backend.stop(s.replicaId, { drainMs: 0 });
  }
  return rows;
}

const artifacts = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/gzip' });
  archiveDirectory(appDir).pipe(res);
});
await new Promise<void>((r) => artifacts.listen(0, '127.0.0.1', r));
const cluster = new FakeCluster({ images: plinthImageTable() });
try {
  const url = await cluster.start();
  cluster.api.put('secrets', 'bench', { metadata: { name: 'plinth-artifacts' }, data: { 'api-key': '' } });
  const kubeConfig = kubeConfigAt(url);
  // When the pod appeared, and when its model container started (the fetch had finished).
  let podAt = 0;
  let runningAt = 0;
  cluster.api.subscribe((plural, event) => {
    if (plural !== 'pods') return;
    if (event.type === 'ADDED') podAt = performance.now();
    const model = (
      event.object['status'] as { containerStatuses?: { state?: { running?: unknown } }[] } | undefined
    )?.containerStatuses?.[0];
    if (model?.state?.running && runningAt < podAt) runningAt = performance.now();
  });
  const port = 20000 + Math.floor(Math.random() * 20000);
  const kubernetes = new KubernetesBackend({
    kubeConfig,
    namespace: 'bench',
    images: TEST_IMAGES,
    artifacts: () => ({
      app: `http://127.0.0.1:${(artifacts.address() as { port: number }).port}/app`,
      environment: null,
    }),
    apiKeySecret: { name: 'plinth-artifacts', key: 'api-key' },
    port,
    preStopSeconds: 0,
  });
  await kubernetes.adopt();
  const k8s = await timeStarts(kubernetes, () => ({ pod: podAt, running: runningAt }));
  await kubernetes.close();

  const local = new LocalBackend({ onLog: () => {}, runDir: join(root, 'run'), nodeStandbys: 0 });
  local.adopt();
  const baseline = await timeStarts(local);
  await local.close();

  console.log(`# replica start → ready, ${runs} runs each (median; each run in brackets)`);
  console.log('backend                      |  total  | pod created | build fetched, model server started');
  const col = (rows: number[][], i: number) =>
    `${median(rows.map((r) => r[i]!))
      .toFixed(0)
      .padStart(5)} ms`;
  console.log(
    `kubernetes (fake cluster)    | ${col(k8s, 0)} | ${col(k8s, 1)}    | ${col(k8s, 2)}   [${k8s.map((r) => r[0]!.toFixed(0)).join(', ')}]`,
  );
  console.log(
    `baseline: local (a process)  | ${col(baseline, 0)} |             |            [${baseline.map((r) => r[0]!.toFixed(0)).join(', ')}]`,
  );
} finally {
  await cluster.close();
  artifacts.close();
  rmSync(root, { recursive: true, force: true });
}

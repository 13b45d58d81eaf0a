// deploy/: what installs Plinth into a cluster. The kustomization builds (with the real kubectl)
// into manifests that all validate against the Kubernetes schemas; the Dockerfile builds the three
// images the manifests and the kubernetes backend name, with the commands their pods run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { manifestProblems } from '../support/kubernetes-schema.ts';
import { REPO } from '../e2e/harness.ts';
import { deploymentManifest } from '../../src/runtime/kubernetes/manifests.ts';
import { MANIFEST_OPTIONS, replicaSpec } from '../support/kubernetes/manifest-fixtures.ts';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';

function kustomize(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(KUBECTL, ['kustomize', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', (e) =>
      reject(new Error(`cannot run ${KUBECTL} (install Debian's kubernetes-client): ${e.message}`)),
    );
    c.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kubectl kustomize ${dir}: ${err}`)),
    );
  });
}

type Manifest = {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: {
    template?: { spec: { containers: { image: string; args?: string[] }[]; serviceAccountName?: string } };
  };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
};

test('deploy/kubernetes builds with kubectl kustomize into manifests that validate against the Kubernetes schemas', async () => {
  const built = await kustomize(join(REPO, 'deploy', 'kubernetes'));
  const manifests = parseAllDocuments(built).map((d) => d.toJS() as Manifest);
  const problems = manifests.flatMap((m) => manifestProblems(m));
  assert.deepEqual(problems, []);
  assert.deepEqual(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort(), [
    'ClusterRole/plinth-read-nodes',
    'ClusterRoleBinding/plinth-read-nodes',
    'Deployment/plinth-control-plane',
    'Deployment/plinth-gateway',
    'Namespace/plinth',
    'NetworkPolicy/plinth-replicas',
    'PersistentVolumeClaim/plinth-home',
    'PersistentVolumeClaim/plinth-weights-cache',
    'PodDisruptionBudget/plinth-control-plane',
    'PodDisruptionBudget/plinth-gateway',
    'Role/plinth-replicas',
    'RoleBinding/plinth-replicas',
    'Service/plinth',
    'Service/plinth-gateway',
    'ServiceAccount/plinth-control-plane',
  ]);
  for (const m of manifests.filter((m) => m.kind !== 'Namespace' && !m.kind.startsWith('Cluster')))
    assert.equal(m.metadata.namespace, 'plinth', `${m.kind}/${m.metadata.name} is in the plinth namespace`);
  const controlPlane = manifests.find(
    (m) => m.metadata.name === 'plinth-control-plane' && m.kind === 'Deployment',
  )!;
  const container = controlPlane.spec!.template!.spec.containers[0]!;
  assert.equal(container.image, 'plinth/server:0.1.0');
  assert.ok(container.args!.includes('--runtime=kubernetes'), 'the control plane runs replicas as pods');
  assert.equal(controlPlane.spec!.template!.spec.serviceAccountName, 'plinth-control-plane');
  const gateway = manifests.find((m) => m.metadata.name === 'plinth-gateway' && m.kind === 'Deployment')!;
  assert.equal(gateway.spec!.template!.spec.containers[0]!.args![0], 'gateway');
});

/** Just what the network policy test reads of the built manifests. */
interface Policyish {
  kind: string;
  metadata: { name: string };
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    ingress: { from: { podSelector: { matchLabels: Record<string, string> } }[] }[];
    template: { metadata: { labels: Record<string, string> } };
  };
}

test("the network policy admits to replica pods only Plinth's own pods, and selects the replicas the backend labels", async () => {
  const built = await kustomize(join(REPO, 'deploy', 'kubernetes'));
  const manifests = parseAllDocuments(built).map((d) => d.toJS() as Policyish);
  const policy = manifests.find((m) => m.kind === 'NetworkPolicy')!;
  const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);
  const replicaLabels = deploymentManifest(replicaSpec(), MANIFEST_OPTIONS, 1).spec!.template.metadata!
    .labels!;
  assert.ok(selects(policy.spec.podSelector.matchLabels, replicaLabels), 'it selects replica pods');
  const from = policy.spec.ingress[0]!.from[0]!.podSelector.matchLabels;
  for (const name of ['plinth-control-plane', 'plinth-gateway']) {
    const pod = manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === name)!;
    assert.ok(selects(from, pod.spec.template.metadata.labels), `${name} may reach replicas`);
  }
  assert.ok(!selects(from, replicaLabels), 'a replica may not reach another');
});

test('the Dockerfile builds the three images, each with the commands its pods run', () => {
  const file = join(REPO, 'deploy', 'images', 'Dockerfile');
  const text = readFileSync(file, 'utf8');
  const stages = new Map<string, string>();
  let current = '';
  for (const line of text.split('\n')) {
    const from = /^FROM \S+ AS (\S+)/.exec(line);
    if (from) current = from[1]!;
    else if (current) stages.set(current, (stages.get(current) ?? '') + line + '\n');
  }
  for (const target of ['server', 'runtime-node', 'runtime-python'])
    assert.ok(stages.has(target), `target ${target}`);
  // Every file copied from the build context exists.
  for (const m of text.matchAll(/^COPY (?!--from)(\S+) /gm)) {
    assert.ok(existsSync(join(REPO, m[1]!)), `COPY ${m[1]} names a file in the repository`);
  }
  // The commands the kubernetes backend's pods run (manifests.ts) are on each image's PATH.
  assert.match(stages.get('server')!, /ln -s \/opt\/plinth\/bin\/plinth\.js \/usr\/local\/bin\/plinth/);
  assert.match(stages.get('runtime-node')!, /\/usr\/local\/bin\/plinth-replica-node/);
  assert.match(stages.get('runtime-python')!, /\/usr\/local\/bin\/plinth-replica-python/);
  for (const script of ['plinth-replica-node', 'plinth-replica-python'])
    accessSync(join(REPO, 'deploy', 'images', 'bin', script), constants.X_OK);
});

// Composition for `plinth up --runtime kubernetes`: the kubernetes backend built from the server's
// options (the kubeconfig in reach — in-cluster, $KUBECONFIG or ~/.kube/config — the namespace,
// the images, the URL pods reach the artifact API at), and the API key its pods fetch builds with,
// kept in a Secret that the leading control plane writes when it is missing or no longer valid.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Authenticator } from './api/auth.ts';
import { PlinthError } from './domain/errors.ts';
import { PLINTH_VERSION } from './domain/version.ts';
import type { ReplicaSpec } from './runtime/backend.ts';
import { KubernetesBackend } from './runtime/kubernetes/kubernetes-backend.ts';
import type { KubernetesBackendOptions } from './runtime/kubernetes/kubernetes-backend.ts';
import type { ModelConfig } from './config/schema.ts';
import { WeightsFetcher } from './weights/fetcher.ts';

export interface KubernetesRuntimeOptions {
  /** The URL replica pods reach this control plane's API at (a Service in the cluster). */
  publicUrl: string;
  /** Default: the pod's own namespace in a cluster, else the kubeconfig context's, else "default". */
  namespace?: string;
  /** Where Plinth's images are: `<prefix>server`, `<prefix>runtime-node`, `<prefix>runtime-python`. */
  imagePrefix?: string;
  /** Their tag (default: this Plinth's version). */
  imageTag?: string;
  preStopSeconds?: number;
  /** Default: from the environment (in-cluster, $KUBECONFIG or ~/.kube/config). */
  kubeConfig?: KubeConfig;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
export const ARTIFACT_KEY_SECRET = { name: 'plinth-artifacts', key: 'api-key' };

export function kubernetesBackend(
  options: KubernetesRuntimeOptions,
  onLog: KubernetesBackendOptions['onLog'],
): KubernetesBackend {
  let kubeConfig = options.kubeConfig;
  if (!kubeConfig) {
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
  }
  const namespace =
    options.namespace ??
    (existsSync(SERVICE_ACCOUNT_NAMESPACE) ? readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() : null) ??
    kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ??
    'default';
  const prefix = options.imagePrefix ?? 'plinth/';
  const tag = options.imageTag ?? PLINTH_VERSION;
  const base = options.publicUrl.replace(/\/+$/, '');
  const artifact = (spec: ReplicaSpec, part: string): string =>
    `${base}/v1/models/${encodeURIComponent(spec.modelId)}/deployments/${encodeURIComponent(spec.deploymentId)}/artifacts/${part}`;
  return new KubernetesBackend({
    kubeConfig,
    namespace,
    images: {
      fetcher: `${prefix}server:${tag}`,
      node: `${prefix}runtime-node:${tag}`,
      python: `${prefix}runtime-python:${tag}`,
    },
    artifacts: (spec) => {
      // A pod names the revision it runs: a pod of a revision no longer current fetches nothing.
      return {
        app: artifact(spec, 'app') + (spec.revision > 0 ? `?revision=${spec.revision}` : ''),
        environment: spec.envDir
          ? `${artifact(spec, 'environment')}?name=${encodeURIComponent(basename(spec.envDir))}`
          : null,
        baseEnvironment: spec.baseEnvDir
          ? `${artifact(spec, 'base-environment')}?name=${encodeURIComponent(basename(spec.baseEnvDir))}`
          : null,
        // A build with weights and data: the pod fetches them by sha256 into the shared cache volume.
        weights: WeightsFetcher.wants(spec.config as unknown as ModelConfig) ? `${base}/v1/weights` : null,
      };
    },
    apiKeySecret: ARTIFACT_KEY_SECRET,
    weightsCacheClaim: process.env.PLINTH_WEIGHTS_CACHE_CLAIM || undefined,
    preStopSeconds: options.preStopSeconds,
    onLog,
  });
}

/**
 * Reaches the cluster as the leading control plane: the artifact key's Secret, then the pods left
 * there. An unreachable or refusing API server is one clear error naming it.
 */
export async function joinCluster(backend: KubernetesBackend, auth: Authenticator): Promise<void> {
  try {
    await provideArtifactKey(backend, auth);
    await backend.adopt();
  } catch (err) {
    const server = backend.kubeConfig.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
    const e = err as { code?: number; body?: unknown; message?: string };
    const why =
      typeof e.code === 'number' ? `HTTP ${e.code}: ${bodyMessage(e.body)}` : (e.message ?? String(err));
    throw new PlinthError(
      'CLUSTER_UNAVAILABLE',
      `cannot use the Kubernetes API at ${server} (namespace "${backend.namespace}"): ${why}`,
    );
  }
}

function bodyMessage(body: unknown): string {
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string };
    return parsed?.message ?? String(body);
  } catch {
    return String(body);
  }
}

/**
 * Makes sure the Secret replica pods fetch builds with holds a key this platform accepts: kept when
 * it still authenticates, else a new deploy-scoped key is created and written.
 */
export async function provideArtifactKey(backend: KubernetesBackend, auth: Authenticator): Promise<void> {
  const core = backend.kubeConfig.makeApiClient(CoreV1Api);
  const namespace = backend.namespace;
  const existing = await core
    .readNamespacedSecret({ name: ARTIFACT_KEY_SECRET.name, namespace })
    .catch((err: { code?: number }) => (err.code === 404 ? null : Promise.reject(err)));
  const current = existing?.data?.[ARTIFACT_KEY_SECRET.key];
  if (current) {
    const valid = await auth
      .authenticate(`Api-Key ${Buffer.from(current, 'base64').toString('utf8')}`, 'kubernetes-backend')
      .catch(() => null);
    if (valid) return;
  }
  const { secret } = await auth.create('kubernetes pods (build fetch)', 'deploy');
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: ARTIFACT_KEY_SECRET.name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'plinth' },
    },
    type: 'Opaque',
    data: { [ARTIFACT_KEY_SECRET.key]: Buffer.from(secret).toString('base64') },
  };
  if (existing) await core.replaceNamespacedSecret({ name: ARTIFACT_KEY_SECRET.name, namespace, body });
  else await core.createNamespacedSecret({ namespace, body });
}

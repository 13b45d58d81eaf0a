// The calls the kubernetes backend makes to the API server, in one namespace: its Deployments, its
// pods' annotations and deletion, the Secret of a deployment's environment, and the nodes' capacity.
// What is already gone counts as done (404s are not errors), and a creation that lost a race to
// another (409) finds what it wanted there. No decisions here: callers decide, this writes.
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1Deployment, V1Secret } from '@kubernetes/client-node';
import { parseCpu, parseMemory } from '../../domain/quantity.ts';
import type { Capacity } from '../backend.ts';

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class ClusterClient {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
  ) {
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  /** The nodes' allocatable CPU, memory and GPUs (their kind from `gpuLabel`). */
  async capacity(gpuLabel: string): Promise<Capacity> {
    const nodes = await this.core.listNode();
    const cap: Capacity = { cpu: 0, memoryBytes: 0, gpus: [] };
    for (const node of nodes.items) {
      const a = node.status?.allocatable ?? {};
      cap.cpu += a['cpu'] ? parseCpu(a['cpu']) / 1000 : 0;
      cap.memoryBytes += a['memory'] ? parseMemory(a['memory']) : 0;
      const count = Number(a['nvidia.com/gpu'] ?? 0);
      const kind = node.metadata?.labels?.[gpuLabel] ?? 'gpu';
      for (let i = 0; i < count; i++) cap.gpus.push({ kind, index: cap.gpus.length });
    }
    return cap;
  }

  /** Writes a Secret whole: replaced when there, else created. */
  async applySecret(secret: V1Secret): Promise<void> {
    const name = secret.metadata!.name!;
    await this.core
      .replaceNamespacedSecret({ name, namespace: this.namespace, body: secret })
      .catch((err: unknown) =>
        status(err) === 404
          ? this.core.createNamespacedSecret({ namespace: this.namespace, body: secret })
          : Promise.reject(err),
      );
  }

  /** Creates the Deployment unless one of its name is there (what is there is left as it is). */
  async ensureDeployment(deployment: V1Deployment): Promise<void> {
    const name = deployment.metadata!.name!;
    const exists = await this.apps.readNamespacedDeployment({ name, namespace: this.namespace }).then(
      () => true,
      (err: unknown) => (status(err) === 404 ? false : Promise.reject(err)),
    );
    if (exists) return;
    await this.apps
      .createNamespacedDeployment({ namespace: this.namespace, body: deployment })
      .catch((err: unknown) => (status(err) === 409 ? undefined : Promise.reject(err)));
  }

  async scaleDeployment(name: string, replicas: number): Promise<void> {
    await this.apps
      .patchNamespacedDeployment({ name, namespace: this.namespace, body: { spec: { replicas } } }, MERGE)
      .catch(ignoreNotFound);
  }

  async deleteDeployment(name: string): Promise<void> {
    await this.apps.deleteNamespacedDeployment({ name, namespace: this.namespace }).catch(ignoreNotFound);
  }

  async annotatePod(name: string, annotations: Record<string, string>): Promise<void> {
    await this.core
      .patchNamespacedPod({ name, namespace: this.namespace, body: { metadata: { annotations } } }, MERGE)
      .catch(ignoreNotFound);
  }

  async deletePod(name: string, gracePeriodSeconds: number): Promise<void> {
    await this.core
      .deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds })
      .catch(ignoreNotFound);
  }
}

function status(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

function ignoreNotFound(err: unknown): undefined {
  if (status(err) === 404) return undefined;
  throw err;
}

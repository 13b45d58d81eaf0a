// What the API's route modules need from the rest of the platform.
import type { ArtifactStore } from '../bundle/artifact-store.ts';
import type { InstanceType } from '../domain/instance-types.ts';
import type { Deployment } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { ProcessMetrics } from '../observability/merged-metrics.ts';
import type { Telemetry } from '../observability/telemetry.ts';
import type { WebhookSecrets } from '../queue/webhook-secrets.ts';
import type { Vault } from '../secrets/vault.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { DevelopmentController } from '../reconciler/development.ts';
import type { Lifecycle } from '../reconciler/lifecycle.ts';
import type { PromotionController } from '../reconciler/promotion-controller.ts';
import type { ReplicaTermination } from '../reconciler/replica-termination.ts';
import type { RuntimeBackend } from '../runtime/backend.ts';
import type { Store } from '../store/store.ts';
import type { Authenticator } from './auth.ts';
import type { UrlBuilder } from './serialize.ts';

export interface ApiContext {
  store: Store;
  artifacts: ArtifactStore;
  lifecycle: Lifecycle;
  development: DevelopmentController;
  promotions: PromotionController;
  /** Terminates one replica on request (drained; the reconciler replaces it). */
  replicas: ReplicaTermination;
  backend: RuntimeBackend;
  gateway: Gateway;
  auth: Authenticator;
  urls: UrlBuilder;
  instanceTypes: readonly InstanceType[];
  telemetry: Telemetry;
  vault: Vault;
  webhookSecrets: WebhookSecrets;
  /** Calls back on every deployment status change; returns the unsubscribe function. */
  onStatusChange: (listener: (d: Deployment) => void) => () => void;
  /** Asks the reconciler for a pass soon (replicas to replace or start). */
  reconcile: () => void;
  /** Where builds are kept (the artifact routes serve them to pods on Kubernetes). */
  home: PlinthHome;
  /** Largest bundle accepted by PUT /v1/bundles, in bytes. */
  maxBundleBytes: number;
  /** Whether /metrics needs an API key. */
  metricsAuth?: boolean;
  /** With --gateway-workers: the workers' registries, merged into /metrics with this process's. */
  workerMetrics?: () => Promise<ProcessMetrics[]>;
}

/**
 * The phases of a deployment's live replicas: as this process's runtime backend sees them, or,
 * where it runs none (a control plane that follows another, on a shared store), as the store has them.
 */
export async function replicaPhases(ctx: ApiContext, deploymentId: string): Promise<{ phase: string }[]> {
  const local = ctx.backend.list(deploymentId);
  if (local.length > 0) return local;
  const records = await ctx.store.listReplicas({ deployment_id: deploymentId, live: true });
  return records.map((r) => ({ phase: r.status }));
}

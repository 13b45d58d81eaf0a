// Deployment statuses (the values hosted platforms use) and which of them may serve traffic.
// Pure: no I/O.

export const DEPLOYMENT_STATUSES = [
  'BUILDING',
  'DEPLOYING',
  'LOADING_MODEL',
  'ACTIVE',
  'UPDATING',
  'SCALED_TO_ZERO',
  'WAKING_UP',
  'DEACTIVATING',
  'INACTIVE',
  'BUILD_FAILED',
  'DEPLOY_FAILED',
  'FAILED',
  'UNHEALTHY',
] as const;

export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** Statuses after which nothing happens until a user acts (retry, activate, a new push). */
export const TERMINAL_STATUSES: ReadonlySet<DeploymentStatus> = new Set([
  'BUILD_FAILED',
  'DEPLOY_FAILED',
  'FAILED',
  'INACTIVE',
]);

/** Statuses in which the reconciler keeps replicas running. */
export const RUNNING_STATUSES: ReadonlySet<DeploymentStatus> = new Set([
  'DEPLOYING',
  'LOADING_MODEL',
  'ACTIVE',
  'UPDATING',
  'SCALED_TO_ZERO',
  'WAKING_UP',
  'UNHEALTHY',
]);

export function isFailed(status: DeploymentStatus): boolean {
  return status === 'BUILD_FAILED' || status === 'DEPLOY_FAILED' || status === 'FAILED';
}

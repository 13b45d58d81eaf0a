// The deployment state machine: its statuses (the values hosted platforms use), the one table of
// legal moves that every room asks, and the named questions rooms ask of a status. The store applies
// a move only from the status it was asked from (compare-and-set) and only when this table allows it.
// Pure: no I/O, imports nothing outside domain/.

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

/** Statuses a development patch may start from (UPDATING), and so may go back to when it fails. */
const PATCHABLE = [
  'DEPLOYING',
  'LOADING_MODEL',
  'ACTIVE',
  'SCALED_TO_ZERO',
  'WAKING_UP',
  'UNHEALTHY',
  'BUILD_FAILED',
  'DEPLOY_FAILED',
] as const satisfies readonly DeploymentStatus[];

/**
 * Every legal move, from → the statuses it may go to, with why. A move to the same status (a new
 * reason, nothing else) is always legal and records no event.
 */
export const STATUS_MOVES: Readonly<
  Record<DeploymentStatus, Readonly<Partial<Record<DeploymentStatus, string>>>>
> = {
  BUILDING: {
    DEPLOYING: 'the build finished',
    BUILD_FAILED: 'the build failed',
    SCALED_TO_ZERO: 'a promotion cancelled before its candidate was built (the build goes on)',
    DEACTIVATING: 'deactivated',
  },
  DEPLOYING: {
    LOADING_MODEL: 'a replica started',
    ACTIVE: 'a replica is ready',
    DEPLOY_FAILED: 'replicas failed to start',
    UNHEALTHY: 'replicas of a deployment that served failed to start',
    UPDATING: 'a development patch',
    SCALED_TO_ZERO: 'scaled to zero (a promotion cancelled)',
    DEACTIVATING: 'deactivated',
  },
  LOADING_MODEL: {
    ACTIVE: 'a replica is ready',
    DEPLOY_FAILED: 'replicas failed to load',
    UNHEALTHY: 'replicas of a deployment that served failed to load',
    UPDATING: 'a development patch',
    SCALED_TO_ZERO: 'scaled to zero (a promotion cancelled)',
    DEACTIVATING: 'deactivated',
  },
  ACTIVE: {
    UNHEALTHY: 'every replica failed',
    DEPLOY_FAILED: 'its replicas keep failing to start, and it never served a request',
    UPDATING: 'a development patch',
    SCALED_TO_ZERO: 'no traffic for the scale-down delay',
    DEACTIVATING: 'deactivated',
  },
  UPDATING: {
    ...Object.fromEntries(PATCHABLE.map((s) => [s, 'a failed patch goes back to where it started'])),
    ACTIVE: 'the patched code is ready',
    DEACTIVATING: 'deactivated',
  },
  SCALED_TO_ZERO: {
    WAKING_UP: 'a request or a wake call',
    BUILD_FAILED: 'its build, still running when it was taken to zero, failed',
    UPDATING: 'a development patch',
    DEACTIVATING: 'deactivated',
  },
  WAKING_UP: {
    ACTIVE: 'a replica is ready',
    BUILD_FAILED: 'its build, still running when it was taken to zero, failed',
    UNHEALTHY: 'replicas failed to start',
    DEPLOY_FAILED: 'its replicas keep failing to start, and it never served a request',
    UPDATING: 'a development patch',
    SCALED_TO_ZERO: 'scaled to zero (a promotion cancelled)',
    DEACTIVATING: 'deactivated',
  },
  DEACTIVATING: {
    INACTIVE: 'every replica stopped',
    DEPLOYING: 'activated',
  },
  INACTIVE: {
    DEPLOYING: 'activated',
  },
  BUILD_FAILED: {
    BUILDING: 'retried',
    UPDATING: 'a development patch',
    DEACTIVATING: 'deactivated',
  },
  DEPLOY_FAILED: {
    DEPLOYING: 'retried',
    UPDATING: 'a development patch',
    DEACTIVATING: 'deactivated',
  },
  // Hosted platforms report FAILED and scripts check for it; Plinth itself never enters it.
  FAILED: {
    DEPLOYING: 'retried',
    DEACTIVATING: 'deactivated',
  },
  UNHEALTHY: {
    ACTIVE: 'a replica is ready again',
    DEPLOYING: 'retried',
    DEPLOY_FAILED: 'its replicas keep failing to start, and it never served a request',
    UPDATING: 'a development patch',
    SCALED_TO_ZERO: 'no traffic for the scale-down delay',
    DEACTIVATING: 'deactivated',
  },
};

/** Whether the table allows `from` → `to` (a same-status move, a new reason only, always is). */
export function canMove(from: DeploymentStatus, to: DeploymentStatus): boolean {
  return from === to || STATUS_MOVES[from][to] !== undefined;
}

/** Ended by a failure: nothing happens until a user acts (retry, a patch, a new push); requests are refused. */
export function isFailed(status: DeploymentStatus): boolean {
  return status === 'BUILD_FAILED' || status === 'DEPLOY_FAILED' || status === 'FAILED';
}

/** Failed, or INACTIVE: no replicas, and none coming until a user acts. */
export function isStopped(status: DeploymentStatus): boolean {
  return isFailed(status) || status === 'INACTIVE';
}

/** Failed, or UNHEALTHY (no replica can start; it keeps trying): what a push reports as not working. */
export function isFailedOrUnhealthy(status: DeploymentStatus): boolean {
  return isFailed(status) || status === 'UNHEALTHY';
}

/** Deactivated or on its way there: its URLs answer DEPLOYMENT_INACTIVE. */
export function isInactive(status: DeploymentStatus): boolean {
  return status === 'INACTIVE' || status === 'DEACTIVATING';
}

/**
 * At rest: at zero, inactive or failed. A resting deployment that wants no replica and has none
 * gives the control loops nothing to do (a thousand idle models are not read every second).
 */
export const RESTING_STATUSES = [
  'SCALED_TO_ZERO',
  'INACTIVE',
  'BUILD_FAILED',
  'DEPLOY_FAILED',
  'FAILED',
] as const satisfies readonly DeploymentStatus[];

/** Statuses in which the reconciler keeps the deployment's desired replicas running. */
export function keepsReplicas(status: DeploymentStatus): boolean {
  return (
    status === 'DEPLOYING' ||
    status === 'LOADING_MODEL' ||
    status === 'ACTIVE' ||
    status === 'UPDATING' ||
    status === 'SCALED_TO_ZERO' ||
    status === 'WAKING_UP' ||
    status === 'UNHEALTHY'
  );
}

/** Statuses in which replicas may be running (kept, or still draining): what telemetry samples. */
export function mayHaveReplicas(status: DeploymentStatus): boolean {
  return keepsReplicas(status) || status === 'DEACTIVATING';
}

/** Statuses whose next status follows from what the replicas do (the reconciler decides it). */
export function followsReplicas(status: DeploymentStatus): boolean {
  return (
    status === 'DEPLOYING' ||
    status === 'LOADING_MODEL' ||
    status === 'ACTIVE' ||
    status === 'UNHEALTHY' ||
    status === 'WAKING_UP'
  );
}

/**
 * Statuses in which the autoscaler decides the replica count. Not SCALED_TO_ZERO: a deployment at
 * zero comes back only when a request (or a wake call, or a promotion) asks for it.
 */
export function isAutoscaled(status: DeploymentStatus): boolean {
  return status === 'ACTIVE' || status === 'UNHEALTHY';
}

/** At zero replicas, waiting for a request to wake it. */
export function canWake(status: DeploymentStatus): boolean {
  return status === 'SCALED_TO_ZERO';
}

/** A promotion candidate in one of these will not come up by itself: the promotion fails. */
export function isDown(status: DeploymentStatus): boolean {
  return isFailedOrUnhealthy(status) || isInactive(status);
}

/** Whether a user's retry applies (a failed or unhealthy deployment), and what it moves to. */
export function retryTarget(status: DeploymentStatus): DeploymentStatus | null {
  if (status === 'BUILD_FAILED') return 'BUILDING';
  if (status === 'DEPLOY_FAILED' || status === 'FAILED' || status === 'UNHEALTHY') return 'DEPLOYING';
  return null;
}

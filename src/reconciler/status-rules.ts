// The deployment state machine's rules: given what the replicas are doing, which status the
// deployment should show. Pure: the reconciler applies the result.
import type { DeploymentStatus } from '../domain/status.ts';
import type { ReplicaPhase } from '../runtime/backend.ts';

/** Load failures in a row after which a deployment is given up on. */
export const MAX_LOAD_FAILURES = 3;

export interface StatusInput {
  status: DeploymentStatus;
  desired: number;
  phases: readonly ReplicaPhase[];
  hasServed: boolean;
  consecutiveFailures: number;
  lastFailure: string | null;
}

export interface StatusDecision {
  status: DeploymentStatus;
  reason: string;
}

const RECONCILED: ReadonlySet<DeploymentStatus> = new Set([
  'DEPLOYING',
  'LOADING_MODEL',
  'ACTIVE',
  'UNHEALTHY',
  'WAKING_UP',
]);

export function nextStatus(input: StatusInput): StatusDecision | null {
  if (input.status === 'DEACTIVATING') {
    return input.phases.some((p) => p === 'STARTING' || p === 'READY' || p === 'DRAINING')
      ? null
      : { status: 'INACTIVE', reason: 'every replica stopped' };
  }
  if (!RECONCILED.has(input.status)) return null;
  const ready = input.phases.filter((p) => p === 'READY').length;
  const starting = input.phases.filter((p) => p === 'STARTING').length;
  if (input.consecutiveFailures >= MAX_LOAD_FAILURES && ready === 0) {
    const why = `${input.consecutiveFailures} failed starts in a row; last: ${input.lastFailure ?? 'unknown'}`;
    const to: DeploymentStatus = input.hasServed ? 'UNHEALTHY' : 'DEPLOY_FAILED';
    return input.status === to ? null : { status: to, reason: why };
  }
  if (ready > 0)
    return input.status === 'ACTIVE' ? null : { status: 'ACTIVE', reason: `${ready} replica(s) ready` };
  if (starting > 0 && !input.hasServed && input.status === 'DEPLOYING') {
    return { status: 'LOADING_MODEL', reason: 'replica started; model loading' };
  }
  return null;
}

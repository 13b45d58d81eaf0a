// Which status a deployment should show, given what its replicas are doing: the reconciler's half
// of the state machine (domain/deployment-status.ts holds the legal moves). Pure: the reconciler
// applies the result.
import { followsReplicas } from '../domain/deployment-status.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
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

export function nextStatus(input: StatusInput): StatusDecision | null {
  if (input.status === 'DEACTIVATING') {
    return input.phases.some((p) => p === 'STARTING' || p === 'READY' || p === 'DRAINING')
      ? null
      : { status: 'INACTIVE', reason: 'every replica stopped' };
  }
  if (!followsReplicas(input.status)) return null;
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

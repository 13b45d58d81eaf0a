// Which deployments have been idle long enough to deactivate (`plinth up --deactivate-after-idle`):
// a deployment is quiet since the latest of its creation, its last answered request and its last
// start or wake; past the idle period it goes, unless it is building or starting, failed, already
// inactive, serving a request right now (a long stream is noted only when it ends), part of a
// promotion in progress, or kept awake by a `plinth watch`. Pure: time is an input.
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import { formatDurationS } from '../domain/duration.ts';
import type { DeploymentEvent } from '../domain/types.ts';

export interface IdleCandidate {
  id: string;
  status: DeploymentStatus;
  createdMs: number;
  /** Its last answered inference request (null: none recorded). */
  lastRequestMs: number | null;
  /** When it was last started, activated or woken (null: not looked up, or never). */
  lastStartedMs: number | null;
  /** Requests are in flight or queued for it now. */
  busy: boolean;
  /** A promotion in progress moves traffic to or from it. */
  inPromotion: boolean;
  /** A `plinth watch` session keeps it awake. */
  keptAwake: boolean;
}

export interface IdleDecision {
  id: string;
  quietSinceMs: number;
}

/**
 * Statuses an idle deployment is deactivated from: serving, at zero, or failing to serve. Not while
 * it builds, starts, wakes or takes a patch (BUILDING, DEPLOYING, LOADING_MODEL, WAKING_UP,
 * UPDATING), not when it has failed (nothing runs), not when it is already going or gone.
 */
export function deactivatesWhenIdle(status: DeploymentStatus): boolean {
  return status === 'ACTIVE' || status === 'SCALED_TO_ZERO' || status === 'UNHEALTHY';
}

/** The deployments quiet for at least `idleMs` at `nowMs`, each with the time it has been quiet since. */
export function idleDeployments(input: {
  nowMs: number;
  idleMs: number;
  candidates: readonly IdleCandidate[];
}): IdleDecision[] {
  const out: IdleDecision[] = [];
  for (const c of input.candidates) {
    if (!deactivatesWhenIdle(c.status) || c.busy || c.inPromotion || c.keptAwake) continue;
    const quietSinceMs = Math.max(c.createdMs, c.lastRequestMs ?? 0, c.lastStartedMs ?? 0);
    if (input.nowMs - quietSinceMs >= input.idleMs) out.push({ id: c.id, quietSinceMs });
  }
  return out;
}

/** The last time a deployment was started, activated or woken, from its status events (null: never). */
export function lastStartedMs(events: readonly Pick<DeploymentEvent, 'time' | 'to_status'>[]): number | null {
  let latest: number | null = null;
  for (const e of events) {
    if (e.to_status !== 'DEPLOYING' && e.to_status !== 'WAKING_UP' && e.to_status !== 'ACTIVE') continue;
    const ms = Date.parse(e.time);
    if (latest === null || ms > latest) latest = ms;
  }
  return latest;
}

/** The reason an idle deployment's deactivation gives (`no traffic for 14d`). */
export function idleReason(idleS: number): string {
  return `no traffic for ${formatDurationS(idleS)}`;
}

// Moves deployments through the state machine (domain/deployment-status.ts) with the store's
// compare-and-set, and tells in-process listeners (the gateway, log tails) of each change. Every
// status change goes through here; a refused move writes nothing and is a value, not an error.
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import type { Deployment } from '../domain/types.ts';
import type { DeploymentPatch, MoveOutcome, Store } from './store.ts';

export type StatusListener = (deployment: Deployment, from: DeploymentStatus) => void;

/** What `moveCurrent` should do with the deployment as it is now; null: nothing. */
export type MoveDecision = { to: DeploymentStatus; reason: string; patch?: DeploymentPatch } | null;

/** Stale reads retried by `moveCurrent` before it gives up (each retry reads the deployment again). */
const STALE_RETRIES = 5;

export class StatusRecorder {
  private readonly listeners = new Set<StatusListener>();
  /** Hides secret values in reasons (a model's error may quote one). */
  mask: (text: string) => string = (text) => text;

  constructor(private readonly store: Pick<Store, 'transition' | 'getDeployment'>) {}

  onChange(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Moves a deployment from the status it was read in (`d.status`) to `to`. Refused, with nothing
   * written, when it has moved since or the table forbids the move.
   */
  async move(
    d: Pick<Deployment, 'id' | 'status'>,
    to: DeploymentStatus,
    reason: string,
    patch: DeploymentPatch = {},
  ): Promise<MoveOutcome> {
    const outcome = await this.store.transition(d.id, {
      from: d.status,
      to,
      reason: this.mask(reason),
      patch,
    });
    if (outcome.moved && outcome.from !== to) this.announce(outcome.deployment, outcome.from);
    return outcome;
  }

  /**
   * Reads the deployment, asks `decide` what to do with it as it is, and moves it; when another
   * writer moved it in between, reads it again and asks again. Null when `decide` wants nothing
   * (or the deployment is gone); throws what `decide` throws.
   */
  async moveCurrent(id: string, decide: (d: Deployment) => MoveDecision): Promise<MoveOutcome | null> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.store.getDeployment(id);
      if (!current) return null;
      const decision = decide(current);
      if (!decision) return null;
      const outcome = await this.move(current, decision.to, decision.reason, decision.patch);
      if (outcome.moved || outcome.refusal !== 'STALE' || attempt >= STALE_RETRIES) return outcome;
    }
  }

  /** Tells the listeners of a status change (one made here, or one another process made in a shared store). */
  announce(deployment: Deployment, from: DeploymentStatus): void {
    for (const listener of this.listeners) listener(deployment, from);
  }
}

// Records a deployment's status change together with its event (one transaction), and tells
// in-process listeners (the gateway, log tails) about it. Every status change goes through here.
import type { DeploymentStatus } from '../domain/status.ts';
import type { Deployment } from '../domain/types.ts';
import type { DeploymentPatch, Store } from './store.ts';

export type StatusListener = (deployment: Deployment, from: DeploymentStatus) => void;

export class StatusRecorder {
  private readonly store: Store;
  private readonly listeners = new Set<StatusListener>();
  /** Hides secret values in reasons (a model's error may quote one). */
  mask: (text: string) => string = (text) => text;

  constructor(store: Store) {
    this.store = store;
  }

  onChange(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Moves a deployment to `to` (a no-op when already there and nothing else changes). */
  async transition(
    deploymentId: string,
    to: DeploymentStatus,
    reason: string,
    patch: DeploymentPatch = {},
  ): Promise<Deployment> {
    reason = this.mask(reason);
    const { before, after } = await this.store.transaction(async (tx) => {
      const current = await tx.getDeployment(deploymentId);
      if (!current) throw new Error(`deployment ${deploymentId} vanished during a status change`);
      const changed = await tx.updateDeployment(deploymentId, {
        ...patch,
        status: to,
        status_reason:
          patch.status_reason === undefined ? reason : patch.status_reason && this.mask(patch.status_reason),
      });
      if (current.status !== to) {
        await tx.recordEvent({
          model_id: current.model_id,
          deployment_id: deploymentId,
          time: changed.updated_at,
          from_status: current.status,
          to_status: to,
          reason,
        });
      }
      return { before: current, after: changed };
    });
    if (before.status !== to) this.announce(after, before.status);
    return after;
  }

  /** Tells the listeners of a status change (one made here, or one another process made in a shared store). */
  announce(deployment: Deployment, from: DeploymentStatus): void {
    for (const listener of this.listeners) listener(deployment, from);
  }
}

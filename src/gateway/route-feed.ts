// Where a gateway that runs no replicas of its own learns where to send requests: the replicas the
// store lists as ready, read again whenever another process announces a change (PostgreSQL
// LISTEN/NOTIFY) and every few seconds besides. Deployment status changes reach the gateway's
// parked requests the same way. While the store cannot be read, the routes it had stay: requests
// go on being served, and parked ones wait, through a short store outage; a failed read is tried
// again every quarter second, so that what changed meanwhile is seen as soon as the store answers.
// (A status change made here already reached the gateway; one seen again is announced twice, harmlessly.)
import type { Deployment } from '../domain/types.ts';
import type { Store } from '../store/store.ts';
import type { ChangeTopic } from '../store/postgres/change-feed.ts';
import type { Gateway } from './gateway.ts';
import type { ReadyReplica } from './lb-policy.ts';

/** What a gateway that runs no replicas reads its routes and statuses from. */
export type RouteSource = Pick<Store, 'listDeployments' | 'listDeploymentStatuses' | 'listReplicas'>;

export interface RouteFeedOptions {
  /** Whether replica routes come from the store (false where the runtime backend gives them). */
  replicas: boolean;
  /** A deployment's status changed in another process. */
  onDeployment: (d: Deployment, from: string) => void;
  /** API keys changed: `revoked` when another process announced a revocation, else they may have. */
  onKeys?: (revoked: boolean) => void;
}

/** How often the routes are read again besides the notices (a notice can be lost: a reconnect). */
export const ROUTES_REREAD_MS = 2000;
/** Time enough for every process that reads routes here to have seen a change: a periodic read, and some. */
export const ROUTES_SETTLE_MS = ROUTES_REREAD_MS + 500;

/** How soon a read that failed (the store unreachable) is tried again. */
const RETRY_MS = 250;

export class RouteFeed {
  private readonly routed = new Set<string>();
  private readonly statuses = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private pending: Set<ChangeTopic> | null = null;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly store: RouteSource,
    private readonly gateway: Gateway,
    private readonly options: RouteFeedOptions,
  ) {}

  /** Reads everything now, then follows `subscribe`'s notices and a periodic read. */
  async start(
    subscribe: ((listener: (t: ChangeTopic) => void) => void) | null,
    intervalMs = ROUTES_REREAD_MS,
  ): Promise<void> {
    await this.refresh(new Set(['*']));
    subscribe?.((topic) => this.schedule(topic));
    this.timer = setInterval(() => this.schedule('*'), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
  }

  /** From now on the runtime backend gives the replica routes (this process leads). */
  stopRoutingReplicas(): void {
    this.options.replicas = false;
  }

  /** Notices that arrive together are read in one go. */
  private schedule(topic: ChangeTopic): void {
    if (this.pending) {
      this.pending.add(topic);
      return;
    }
    this.pending = new Set([topic]);
    setTimeout(() => {
      const topics = this.pending!;
      this.pending = null;
      void this.refresh(topics);
    }, 5).unref();
  }

  async refresh(topics: Set<ChangeTopic>): Promise<void> {
    const all = topics.has('*');
    try {
      if (this.options.replicas && (all || topics.has('replicas'))) await this.readReplicas();
      if (all || topics.has('deployments') || topics.has('environments')) {
        this.gateway.resolver.invalidate();
        await this.readDeployments();
      }
      if (all || topics.has('api_keys')) this.options.onKeys?.(topics.has('api_keys'));
      if (this.failing) console.error('routes: the store answers again');
      this.failing = false;
    } catch (err) {
      // The store is not reachable now: keep the routes there are, and read again soon, so that
      // what changed meanwhile (a promotion, replicas replaced) is seen once it answers again.
      if (!this.failing) console.error(`routes: cannot read the store: ${(err as Error).message}`);
      this.failing = true;
      if (!this.stopped && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.schedule('*');
        }, RETRY_MS);
        this.retry.unref();
      }
    }
  }

  private async readReplicas(): Promise<void> {
    const ready = new Map<string, ReadyReplica[]>();
    for (const r of await this.store.listReplicas({ live: true })) {
      if (r.status !== 'READY' || !r.address) continue;
      const list = ready.get(r.deployment_id) ?? [];
      list.push({ id: r.id, address: r.address, token: r.token ?? null });
      ready.set(r.deployment_id, list);
    }
    for (const id of new Set([...this.routed, ...ready.keys()])) {
      this.gateway.setReadyReplicas(id, ready.get(id) ?? []);
    }
    this.routed.clear();
    for (const id of ready.keys()) this.routed.add(id);
  }

  /** Statuses only (a thousand deployments at rest are two short columns each); whole records of those that changed. */
  private async readDeployments(): Promise<void> {
    const statuses = await this.store.listDeploymentStatuses();
    const changed = new Map<string, string>();
    for (const { id, status } of statuses) {
      const from = this.statuses.get(id);
      if (from === status) continue;
      // A change is remembered only once its record is read and announced: a read that fails
      // in between leaves it to be seen again by the retry.
      if (from === undefined) this.statuses.set(id, status);
      else changed.set(id, from);
    }
    if (changed.size > 0) {
      for (const d of await this.store.listDeployments({ ids: [...changed.keys()] })) {
        this.statuses.set(d.id, d.status);
        this.options.onDeployment(d, changed.get(d.id)!);
      }
    }
    // Deleted in another process: what this one keeps for them goes.
    const present = new Set(statuses.map((d) => d.id));
    for (const id of this.statuses.keys()) {
      if (present.has(id)) continue;
      this.statuses.delete(id);
      this.gateway.forget(id);
    }
  }

  /** Deployments whose status it follows (for tests: nothing only grows). */
  get size(): number {
    return this.statuses.size;
  }
}

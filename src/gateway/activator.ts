// One deployment's activator: hands each request a slot on a ready replica, or parks it in a FIFO
// queue until a slot frees up or a replica becomes ready. Parked requests fail only when the
// deployment fails, the queue is full, or they wait past their timeout — never because a replica
// is starting. A lease's release() frees the slot exactly once. Background requests (async ones the
// queue's workers send) wait in a queue of their own, served only when no foreground request waits:
// synchronous requests go first when both wait for a slot.
import { systemClock } from '../domain/clock.ts';
import type { Clock } from '../domain/clock.ts';
import { PlinthError } from '../domain/errors.ts';
import { makeLeastLoaded } from './lb-policy.ts';
import type { LbPolicy, ReadyReplica, ReplicaSlot } from './lb-policy.ts';

export interface Lease {
  replica: ReplicaSlot;
  release(): void;
}

interface Parked {
  resolve: (lease: Lease) => void;
  reject: (err: Error) => void;
  /** Cancels the park timeout. */
  cancelTimer: () => void;
}

export interface ActivatorOptions {
  maxQueue: number;
  parkTimeoutMs: number;
  policy?: LbPolicy;
  clock?: Clock;
}

export class Activator {
  private replicas: ReplicaSlot[] = [];
  private readonly queue: Parked[] = [];
  private readonly background: Parked[] = [];
  private readonly policy: LbPolicy;
  private readonly options: ActivatorOptions;
  private readonly clock: Clock;
  private failure: PlinthError | null = null;
  /** Leases per replica id, including replicas no longer routed to (draining) until released. */
  private readonly leased = new Map<string, number>();
  /** Replicas being stopped: never chosen again, though the backend may still list them ready. */
  private readonly draining = new Set<string>();
  /** The parked entry behind each promise acquire() handed out, so that cancel() can withdraw it. */
  private readonly parkedBy = new WeakMap<Promise<Lease>, Parked>();
  /** Who waits for a draining replica's last request to finish. */
  private readonly idle = new Map<string, (() => void)[]>();

  constructor(options: ActivatorOptions) {
    this.options = options;
    this.policy = options.policy ?? makeLeastLoaded();
    this.clock = options.clock ?? systemClock;
  }

  /** Replaces the set of ready replicas, keeping in-flight counts of those that stay. */
  setReplicas(ready: readonly ReadyReplica[], capacity: number): void {
    const previous = new Map(this.replicas.map((r) => [r.id, r]));
    // A draining replica the backend no longer lists ready needs no more remembering.
    for (const id of this.draining) if (!ready.some((r) => r.id === id)) this.draining.delete(id);
    this.replicas = ready
      .filter((r) => !this.draining.has(r.id))
      .map((r) => {
        const kept = previous.get(r.id);
        if (kept) {
          kept.capacity = capacity;
          return kept;
        }
        return { id: r.id, address: r.address, token: r.token ?? null, inFlight: 0, capacity };
      });
    if (this.replicas.length > 0) this.failure = null;
    this.dispatch();
  }

  /** Stops choosing a replica whose connection failed, until the backend lists it ready again. */
  markBroken(replicaId: string): void {
    this.replicas = this.replicas.filter((r) => r.id !== replicaId);
  }

  /** Fails every parked request (and new ones, until replicas appear) with `error`. */
  fail(error: PlinthError | null): void {
    this.failure = error;
    if (!error) return;
    for (const parked of [...this.queue.splice(0), ...this.background.splice(0)]) {
      parked.cancelTimer();
      parked.reject(error);
    }
  }

  get queued(): number {
    return this.queue.length + this.background.length;
  }

  get inFlight(): number {
    return this.replicas.reduce((sum, r) => sum + r.inFlight, 0);
  }

  /**
   * Stops choosing a replica (it is about to be stopped) and resolves once no request is in
   * flight on it.
   */
  drained(replicaId: string): Promise<void> {
    this.draining.add(replicaId);
    this.replicas = this.replicas.filter((r) => r.id !== replicaId);
    if (!this.leased.has(replicaId)) return Promise.resolve();
    return new Promise((resolve) => this.idle.set(replicaId, [...(this.idle.get(replicaId) ?? []), resolve]));
  }

  /** Requests leased to a replica and not yet finished, even after it left the ready set. */
  inFlightOn(replicaId: string): number {
    return this.leased.get(replicaId) ?? 0;
  }

  get readyCount(): number {
    return this.replicas.length;
  }

  /** A slot now, or a promise of one; `background` requests yield to every foreground one. */
  acquire(background = false): Lease | Promise<Lease> {
    if (this.queue.length === 0 && (background ? this.background.length === 0 : true)) {
      const chosen = this.policy(this.replicas);
      if (chosen) return this.lease(chosen);
    }
    if (this.failure) return Promise.reject(this.failure);
    const queue = background ? this.background : this.queue;
    if (queue.length >= this.options.maxQueue) {
      return Promise.reject(
        new PlinthError(
          'QUEUE_FULL',
          `the deployment's queue is full (${this.options.maxQueue} requests waiting)`,
        ),
      );
    }
    let entry!: Parked;
    const promise = new Promise<Lease>((resolve, reject) => {
      const parked: Parked = {
        resolve,
        reject,
        cancelTimer: this.clock.after(this.options.parkTimeoutMs, () => {
          const i = queue.indexOf(parked);
          if (i !== -1) queue.splice(i, 1);
          reject(
            new PlinthError(
              'GATEWAY_TIMEOUT',
              `no replica became available within ${Math.round(this.options.parkTimeoutMs / 1000)} s; the model may still be loading`,
            ),
          );
        }),
      };
      queue.push(parked);
      entry = parked;
    });
    this.parkedBy.set(promise, entry);
    return promise;
  }

  /**
   * Withdraws a request whose client went away: still parked, it leaves the queue at once (it no
   * longer counts as queued, nor takes a place a real request needs) and its promise rejects with
   * CLIENT_GONE; already given a slot, the slot is released.
   */
  cancel(promise: Promise<Lease>): void {
    const parked = this.parkedBy.get(promise);
    const queue = parked && this.background.includes(parked) ? this.background : this.queue;
    const i = parked ? queue.indexOf(parked) : -1;
    if (parked && i !== -1) {
      queue.splice(i, 1);
      parked.cancelTimer();
      parked.reject(new PlinthError('CLIENT_GONE', 'the client went away while its request waited'));
      return;
    }
    void promise.then(
      (lease) => lease.release(),
      () => undefined,
    );
  }

  private lease(replica: ReplicaSlot): Lease {
    replica.inFlight++;
    this.leased.set(replica.id, (this.leased.get(replica.id) ?? 0) + 1);
    let released = false;
    return {
      replica,
      release: () => {
        if (released) return;
        released = true;
        replica.inFlight--;
        const left = (this.leased.get(replica.id) ?? 1) - 1;
        if (left > 0) this.leased.set(replica.id, left);
        else {
          this.leased.delete(replica.id);
          for (const resolve of this.idle.get(replica.id) ?? []) resolve();
          this.idle.delete(replica.id);
        }
        this.dispatch();
      },
    };
  }

  private dispatch(): void {
    while (this.queue.length > 0 || this.background.length > 0) {
      const chosen = this.policy(this.replicas);
      if (!chosen) return;
      const parked = (this.queue.length > 0 ? this.queue : this.background).shift()!;
      parked.cancelTimer();
      parked.resolve(this.lease(chosen));
    }
  }
}

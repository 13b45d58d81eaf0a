// The kubernetes backend's replicas, by id in the order they were started, and every move of one
// between its states (replica-state.ts): claiming → bound → stopping → finished. What a bound
// replica's pod says (pod-state.ts) becomes the platform's events — waits, its address, readiness
// (also asked of the model server itself, which is quicker than the kubelet's next probe) — and a
// failed pod is handed to the backend to take away. No API calls; nothing is told once closed.
import type { V1Pod } from '@kubernetes/client-node';
import type { ReplicaEvent, ReplicaExit, ReplicaHandle } from '../backend.ts';
import { waitUntilReady } from '../readiness.ts';
import { ReplicaListeners } from '../replica-listeners.ts';
import { podState } from './pod-state.ts';
import { newReplica, podOf } from './replica-state.ts';
import type { Replica } from './replica-state.ts';

export interface ReplicaBookOptions {
  /** The port model servers listen on in their pods. */
  port: number;
  readinessIntervalMs: number;
  /** A bound replica's pod failed, in these words: it is to be taken away. */
  onFailed: (replica: Replica, exit: ReplicaExit) => void;
  /** Follows a running pod's output for a replica; returns how to stop. Null: output is not followed. */
  follow: ((replica: Replica, pod: string) => () => void) | null;
  /** A replica left the books. */
  onForget: (replica: Replica) => void;
}

export class ReplicaBook {
  private readonly replicas = new Map<string, Replica>();
  private readonly listeners = new ReplicaListeners();
  private closed = false;

  constructor(private readonly options: ReplicaBookOptions) {}

  /** A new replica, claiming (waiting for a pod). */
  add(
    handle: Pick<ReplicaHandle, 'id' | 'deploymentId' | 'instanceType' | 'revision' | 'startedAtMs'>,
    group: string,
    modelId: string,
    logsSince?: string,
  ): Replica {
    const { id, deploymentId, startedAtMs, instanceType, revision } = handle;
    const full: ReplicaHandle = {
      id,
      deploymentId,
      phase: 'STARTING',
      address: null,
      startedAtMs,
      readyAtMs: null,
      exit: null,
      instanceType,
      revision,
      gpus: [],
    };
    const replica = newReplica(full, group, modelId, logsSince);
    this.replicas.set(id, replica);
    return replica;
  }

  get(id: string): Replica | undefined {
    return this.replicas.get(id);
  }

  /** The replicas of a group, in the order they were started (the order they claim pods). */
  ofGroup(group: string): Replica[] {
    return [...this.replicas.values()].filter((r) => r.group === group);
  }

  /** The replica running in, or leaving, `pod`. */
  inPod(pod: string): Replica | undefined {
    for (const r of this.replicas.values()) if (podOf(r.state) === pod) return r;
    return undefined;
  }

  handles(deploymentId?: string): ReplicaHandle[] {
    return [...this.replicas.values()]
      .filter((r) => deploymentId === undefined || r.handle.deploymentId === deploymentId)
      .map((r) => ({ ...r.handle }));
  }

  get size(): number {
    return this.replicas.size;
  }

  watch(listener: (event: ReplicaEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** claiming → bound: it runs in `pod`, whose state is taken in at once. */
  bind(replica: Replica, pod: V1Pod): void {
    if (replica.state.kind !== 'claiming') return;
    replica.state = { kind: 'bound', pod: pod.metadata!.name!, waiting: null, probing: false };
    this.observe(replica, pod);
  }

  /** claiming | bound → stopping: a stop was asked; it leaves routing and drains, its exit not yet decided. */
  stopAsked(replica: Replica): void {
    const { state, handle } = replica;
    if (state.kind !== 'claiming' && state.kind !== 'bound') return;
    replica.state = { kind: 'stopping', pod: podOf(state), exit: null };
    if (handle.phase === 'STARTING' || handle.phase === 'READY') {
      handle.phase = 'DRAINING';
      this.emit({ type: 'draining', replica: { ...handle } });
    }
  }

  /** → stopping with its exit decided (before its pod is deleted: a fast deletion reports it). Returns its pod. */
  exitDecided(replica: Replica, exit: ReplicaExit): string | null {
    if (replica.state.kind === 'finished') return null;
    const pod = podOf(replica.state);
    replica.state = { kind: 'stopping', pod, exit };
    return pod;
  }

  /** What a bound replica's pod says now. */
  observe(replica: Replica, pod: V1Pod): void {
    const bound = replica.state;
    if (bound.kind !== 'bound') return;
    const { handle } = replica;
    const state = podState(pod, this.options.port);
    if (state.kind === 'terminating') return;
    if (state.kind === 'failed') {
      const { code, reason, output } = state;
      this.options.onFailed(replica, {
        code,
        signal: null,
        expected: false,
        reason,
        output,
        wasReady: wasReady(replica),
      });
      return;
    }
    if (state.waiting && state.waiting !== bound.waiting) {
      bound.waiting = state.waiting;
      this.emit({ type: 'pending', replica: { ...handle }, reason: state.waiting });
    }
    if (state.address) handle.address = state.address;
    if (state.kind === 'running' && !replica.unfollow && this.options.follow)
      replica.unfollow = this.options.follow(replica, bound.pod);
    const wasPodReady = bound.podReady;
    bound.podReady = state.ready;
    if (handle.phase === 'READY' && wasPodReady === true && !state.ready && state.kind === 'running') {
      // Its readiness probe failed for stop_traffic_threshold_seconds: out of routing until it passes.
      handle.phase = 'STARTING';
      this.emit({
        type: 'unready',
        replica: { ...handle },
        reason:
          'its pod is no longer Ready: the readiness probe (the model server and its is_healthy()) is failing',
      });
    }
    if (handle.phase !== 'STARTING' || !handle.address) return;
    if (state.ready) this.markReady(replica);
    else if (!bound.probing) {
      bound.probing = true;
      void waitUntilReady(handle.address, {
        ...(state.readyPath ? { path: state.readyPath } : {}),
        intervalMs: this.options.readinessIntervalMs,
        stillWanted: () => handle.phase === 'STARTING' && this.isLive(replica),
      }).then((ready) => {
        bound.probing = false;
        if (ready) this.markReady(replica);
      });
    }
  }

  /** Its pod is gone: → finished, with the exit decided, else in the words of how it went. */
  podGone(replica: Replica): void {
    const { state } = replica;
    if (state.kind === 'finished') return;
    const stopping = state.kind === 'stopping';
    const reason = stopping ? 'stopped by the platform' : 'its pod was deleted (by Kubernetes, or by hand)';
    const exit = stopping ? state.exit : null;
    this.finish(
      replica,
      exit ?? { code: null, signal: null, expected: stopping, reason, wasReady: wasReady(replica) },
    );
  }

  /** → finished: its exit is reported, and it leaves the books. */
  finish(replica: Replica, exit: ReplicaExit): void {
    if (replica.state.kind === 'finished') return;
    replica.state = { kind: 'finished', exit };
    const { handle } = replica;
    handle.phase = exit.expected ? 'STOPPED' : 'FAILED';
    handle.exit = exit;
    // What it printed last (its traceback) arrives before the stream is closed.
    const unfollow = replica.unfollow;
    if (unfollow) setTimeout(unfollow, 1000).unref();
    this.forget(replica);
    this.emit({ type: 'exited', replica: { ...handle }, exit });
    replica.release();
  }

  /** Leaves the books without an exit (a start that failed). */
  forget(replica: Replica): void {
    if (this.replicas.get(replica.handle.id) !== replica) return;
    this.replicas.delete(replica.handle.id);
    if (replica.state.kind !== 'finished') replica.unfollow?.();
    this.options.onForget(replica);
  }

  /** Forgets every replica and tells nothing more; whoever waits for an exit waits no longer. */
  close(): void {
    this.closed = true;
    for (const replica of this.replicas.values()) {
      replica.unfollow?.();
      replica.release();
    }
    this.replicas.clear();
  }

  private markReady(replica: Replica): void {
    const { handle } = replica;
    if (handle.phase !== 'STARTING' || replica.state.kind !== 'bound' || !this.isLive(replica)) return;
    handle.phase = 'READY';
    handle.readyAtMs = Date.now();
    this.emit({ type: 'ready', replica: { ...handle } });
  }

  private isLive(replica: Replica): boolean {
    return !this.closed && this.replicas.get(replica.handle.id) === replica;
  }

  private emit(event: ReplicaEvent): void {
    if (!this.closed) this.listeners.emit(event);
  }
}

function wasReady(replica: Replica): boolean {
  return replica.handle.readyAtMs !== null;
}

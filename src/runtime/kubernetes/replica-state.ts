// A kubernetes replica as its backend holds it: the handle the platform sees, and where it is in its
// life — waiting for a pod (claiming), running in one (bound), being taken away (stopping), or over
// (finished) — one state at a time, each with only what it needs, so that no illegal mix of flags
// can be written down.
import type { ReplicaExit, ReplicaHandle } from '../backend.ts';

export type ReplicaState =
  /** Waiting for a pod of its Deployment. */
  | { kind: 'claiming' }
  /**
   * Runs in `pod`. `waiting` is the last reason it was said to wait for; `probing` while its model
   * server is being asked whether it is ready.
   */
  /** `podReady`: the pod's Ready condition when last seen (its readiness probe: the model's health). */
  | { kind: 'bound'; pod: string; waiting: string | null; probing: boolean; podReady?: boolean }
  /**
   * Not wanted any more; `pod` (when it had one) is being taken away. `exit` is null while it
   * drains, and is decided before its pod is deleted (a fast deletion reports it).
   */
  | { kind: 'stopping'; pod: string | null; exit: ReplicaExit | null }
  /** Its exit has been reported. */
  | { kind: 'finished'; exit: ReplicaExit };

export interface Replica {
  readonly handle: ReplicaHandle;
  /** The Deployment (named by its pod template's hash) its pod belongs to. */
  readonly group: string;
  readonly modelId: string;
  /** Output from this time on only (RFC 3339; a pod adopted from another control plane). */
  readonly logsSince: string | undefined;
  state: ReplicaState;
  /** Stops following its pod's output; null while not followed. */
  unfollow: (() => void) | null;
  /** Resolves once its exit has been reported, or its backend has closed. */
  readonly exited: Promise<void>;
  readonly release: () => void;
}

export function newReplica(
  handle: ReplicaHandle,
  group: string,
  modelId: string,
  logsSince: string | undefined,
): Replica {
  let release!: () => void;
  const exited = new Promise<void>((r) => (release = r));
  return { handle, group, modelId, logsSince, state: { kind: 'claiming' }, unfollow: null, exited, release };
}

/** The pod a replica is in or leaving, if any. */
export function podOf(state: ReplicaState): string | null {
  return state.kind === 'bound' || state.kind === 'stopping' ? state.pod : null;
}

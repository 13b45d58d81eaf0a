// The RuntimeBackend seam: where replicas run. `local` (child processes) and `kubernetes` (pods)
// implement it and pass one shared suite. Knows nothing of HTTP routes or the store.

import type { CustomServer } from '../domain/custom-server.ts';

export type ReplicaPhase = 'STARTING' | 'READY' | 'DRAINING' | 'STOPPED' | 'FAILED';

export interface ReplicaSpec {
  replicaId: string;
  deploymentId: string;
  modelId: string;
  /** The deployment revision it runs (a replica of another revision is replaced). */
  revision: number;
  language: 'typescript' | 'python';
  /** The extracted bundle, with its prepared environment linked in. */
  appDir: string;
  /** The model class file, relative to appDir. */
  modelFile: string;
  /** The resolved config.yaml. */
  config: Record<string, unknown>;
  /** Environment variables for the model process (config `environment_variables`). */
  env: Record<string, string>;
  /** Directory of the prepared environment (venv for Python); null when none is needed. */
  envDir: string | null;
  /** Truss's base environment, layered under a Python envDir by a .pth file in it: readable too, fetched too. */
  baseEnvDir?: string | null;
  /** The deployment's instance type: what the replica is placed by and held to. */
  resources: ReplicaResources;
  /** A custom server (config `docker_server`) the replica runs instead of a model server. */
  server?: CustomServer | null;
}

export interface ReplicaResources {
  instanceType: string;
  cpuMillis: number;
  memoryBytes: number;
  accelerator: { kind: string; count: number } | null;
}

/** A replica that cannot be placed now; `reason` says what is missing ("needs 1× L4, 0 of 1 free"). */
export class PendingError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'PendingError';
  }
}

export interface ReplicaExit {
  code: number | null;
  signal: string | null;
  /** Whether the platform asked for the stop. */
  expected: boolean;
  /** The model's own words when it failed (its load() error), else a plain description. */
  reason: string;
  /** What the model printed about a failed start (its traceback), when the backend has it. */
  output?: string;
  /** Whether the replica ever became ready. */
  wasReady: boolean;
}

export interface ReplicaHandle {
  id: string;
  deploymentId: string;
  phase: ReplicaPhase;
  /** `host:port` or a Unix socket path, once listening. */
  address: string | null;
  startedAtMs: number;
  readyAtMs: number | null;
  exit: ReplicaExit | null;
  /** The instance type it was started with. */
  instanceType: string;
  /** The deployment revision it runs. */
  revision: number;
  /** GPU indices it holds exclusively. */
  gpus: number[];
  /** The process id, where the backend runs processes on this machine. */
  pid?: number;
  /**
   * What its model server wants in x-plinth-replica-token: a local replica answers only the
   * platform, not anyone on the machine. None for a pod (its cluster's network is the boundary).
   */
  token?: string | null;
}

export type ReplicaEvent =
  | { type: 'ready'; replica: ReplicaHandle }
  | { type: 'draining'; replica: ReplicaHandle }
  /** A ready replica no longer takes requests for now (a custom server failing its liveness). */
  | { type: 'unready'; replica: ReplicaHandle; reason: string }
  | { type: 'exited'; replica: ReplicaHandle; exit: ReplicaExit }
  /** A started replica waits for something outside the platform (room in a cluster), in plain words. */
  | { type: 'pending'; replica: ReplicaHandle; reason: string };

export interface StopRequest {
  drainMs: number;
  /** Resolves once the requests sent to the replica are done (none waited for when absent). */
  drained?: Promise<void>;
}

export interface Capacity {
  cpu: number;
  memoryBytes: number;
  gpus: { kind: string; index: number }[];
}

export interface RuntimeBackend {
  readonly name: string;
  capacity(): Capacity;
  /** Starts a replica; resolves once the process is launched (not yet ready). Throws PendingError when it does not fit. */
  start(spec: ReplicaSpec): Promise<ReplicaHandle>;
  /**
   * Marks a replica DRAINING (a `draining` event, so that routing stops), waits for `drained` (the
   * caller's word that the requests it sent there are done) for up to `drainMs`, then asks it to
   * stop — it finishes what it still has — and ends it when the drain time is over. The runtime
   * knows nothing of the gateway (reconciler/replica-stopper.ts passes its promise).
   */
  stop(replicaId: string, request: StopRequest): Promise<void>;
  /** Live replicas (STARTING, READY, DRAINING), optionally of one deployment. */
  list(deploymentId?: string): ReplicaHandle[];
  /** Subscribes to replica changes; returns the unsubscribe function. */
  watch(listener: (event: ReplicaEvent) => void): () => void;
  /**
   * Takes on the replicas a previous control plane left running and returns them. Call once, after
   * subscribing to `watch()` and before the first start.
   */
  adopt(): ReplicaHandle[] | Promise<ReplicaHandle[]>;
  /** Where replicas run and how instance types are held to, in a sentence for the start-up lines. */
  describe(): string;
  /**
   * Ends this backend's part: the local backend stops its replicas (a graceful shutdown); the
   * kubernetes backend stops following its pods and leaves them running for the next control
   * plane to adopt.
   */
  close(): Promise<void>;
}

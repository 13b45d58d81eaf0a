// The RuntimeBackend seam: where replicas run. `local` (child processes) and `kubernetes` (pods)
// implement it and pass one shared suite. Knows nothing of HTTP routes or the store.

export type ReplicaPhase = 'STARTING' | 'READY' | 'DRAINING' | 'STOPPED' | 'FAILED';

export interface ReplicaSpec {
  replicaId: string;
  deploymentId: string;
  modelId: string;
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
  /** The deployment's instance type: what the replica is placed by and held to. */
  resources: ReplicaResources;
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
  /** The instance type it was started with (a changed type replaces it). */
  instanceType: string;
  /** GPU indices it holds exclusively. */
  gpus: number[];
  /** The process id, where the backend runs processes on this machine. */
  pid?: number;
}

export type ReplicaEvent =
  | { type: 'ready'; replica: ReplicaHandle }
  | { type: 'draining'; replica: ReplicaHandle }
  | { type: 'exited'; replica: ReplicaHandle; exit: ReplicaExit }
  /** A started replica waits for something outside the platform (room in a cluster), in plain words. */
  | { type: 'pending'; replica: ReplicaHandle; reason: string };

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
  /** Stops routing to a replica, lets in-flight requests finish for up to drainMs, then stops it. */
  stop(replicaId: string, options: { drainMs: number }): Promise<void>;
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
  /** Stops every replica. */
  close(): Promise<void>;
}

// The local RuntimeBackend: each replica is a child process on this machine. It listens on a port
// the OS picks (announced on stdout), is polled for readiness, drains on SIGTERM and is killed after
// the grace period. Output is passed on line by line; exits are reported with the model's own error.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PendingError } from '../backend.ts';
import type {
  Capacity,
  ReplicaEvent,
  ReplicaExit,
  ReplicaHandle,
  ReplicaSpec,
  RuntimeBackend,
} from '../backend.ts';
import { readMark } from '../replica-log-mark.ts';
import { launchCommand, nodeReplicaCommand, pythonReplicaCommand } from './launch.ts';
import { ReplicaLimits } from './limits.ts';
import type { AppliedLimits } from './limits.ts';
import { Inventory } from './placement.ts';
import { StandbyPool } from './standby-pool.ts';
import { waitUntilReady } from './readiness.ts';

export type ReplicaLogSink = (
  spec: ReplicaSpec,
  stream: 'stdout' | 'stderr',
  line: string,
  requestId: string | null,
) => void;

const LISTENING = /^plinth: listening on (\S+)$/;
const LOAD_FAILED = 'plinth: load() failed: ';

interface Running {
  spec: ReplicaSpec;
  handle: ReplicaHandle;
  child: ChildProcess;
  stopRequested: boolean;
  lastErrorLines: string[];
  exited: Promise<void>;
  limits: AppliedLimits | null;
}

export interface LocalBackendOptions {
  onLog: ReplicaLogSink;
  /** Pre-started Node model servers kept waiting for a replica start (0: none). */
  nodeStandbys?: number;
  /** Pre-started Python model servers per interpreter, once one has been used (0: none). */
  pythonStandbys?: number;
  /** Readiness is polled this often while a replica loads. */
  readinessIntervalMs?: number;
  /**
   * Requests the platform has sent a replica and not seen answered (the gateway's count). A stop
   * waits for it to reach zero before signalling the replica, so that a request still on its way
   * is never cut off by the replica closing its connections.
   */
  inFlightOf?: (deploymentId: string, replicaId: string) => number;
  /** What replicas may be placed on (default: the host's CPUs and memory, no GPUs). */
  capacity?: Capacity;
  /** How instance types are enforced (default: detected). */
  limits?: ReplicaLimits;
}

export class LocalBackend implements RuntimeBackend {
  readonly name = 'local';
  private readonly replicas = new Map<string, Running>();
  private readonly listeners = new Set<(event: ReplicaEvent) => void>();
  private readonly options: LocalBackendOptions;

  private readonly pool: StandbyPool | undefined;
  /** Python standbys per base interpreter; a takeover adds the replica's venv to the path. */
  private readonly pythonPools = new Map<string, StandbyPool>();

  private readonly inventory: Inventory;
  readonly limits: ReplicaLimits;

  constructor(options: LocalBackendOptions) {
    this.options = options;
    this.inventory = new Inventory(
      options.capacity ?? { cpu: availableParallelism(), memoryBytes: totalmem(), gpus: [] },
    );
    this.limits = options.limits ?? ReplicaLimits.detect(this.inventory.capacity.cpu);
    if (options.nodeStandbys) {
      const pool = new StandbyPool(options.nodeStandbys, nodeReplicaCommand, baseEnv);
      pool.fill();
      this.pool = pool;
    }
  }

  capacity(): Capacity {
    return this.inventory.capacity;
  }

  async start(spec: ReplicaSpec): Promise<ReplicaHandle> {
    const placed = this.inventory.place(spec.replicaId, spec.resources);
    if (!placed.ok) throw new PendingError(placed.reason);
    const { command, args } = launchCommand(spec);
    const visible = placed.gpus.join(',');
    const env = {
      ...baseEnv(),
      ...spec.env,
      // Only the GPUs placed for it; none for a CPU-only instance type.
      CUDA_VISIBLE_DEVICES: visible,
      NVIDIA_VISIBLE_DEVICES: visible || 'void',
      PLINTH_APP_DIR: spec.appDir,
      PLINTH_MODEL_FILE: spec.modelFile,
      PLINTH_CONFIG_JSON: JSON.stringify(spec.config),
      PLINTH_LISTEN: '0',
      PLINTH_REPLICA_ID: spec.replicaId,
      ...(spec.envDir ? { PLINTH_ENV_DIR: spec.envDir } : {}),
    };
    const child =
      this.standbysFor(spec)?.take(env, spec.appDir) ??
      spawn(command, args, { cwd: spec.appDir, stdio: ['ignore', 'pipe', 'pipe'], env });
    const handle: ReplicaHandle = {
      id: spec.replicaId,
      deploymentId: spec.deploymentId,
      phase: 'STARTING',
      address: null,
      startedAtMs: Date.now(),
      readyAtMs: null,
      exit: null,
      instanceType: spec.resources.instanceType,
      gpus: placed.gpus,
      pid: child.pid,
    };
    const running: Running = {
      spec,
      handle,
      child,
      stopRequested: false,
      lastErrorLines: [],
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
      limits: null,
    };
    this.replicas.set(spec.replicaId, running);
    if (child.pid !== undefined) {
      running.limits = this.limits.apply(spec.replicaId, child.pid, spec.resources, () => {
        child.kill('SIGKILL');
      });
    }

    createInterface({ input: child.stdout! }).on('line', (line) => {
      const listening = LISTENING.exec(line);
      if (listening && handle.address === null) {
        handle.address = listening[1]!;
        void this.pollReadiness(running);
        return;
      }
      const { requestId, text } = readMark(line);
      this.options.onLog(spec, 'stdout', text, requestId);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      const { requestId, text } = readMark(line);
      running.lastErrorLines.push(text);
      if (running.lastErrorLines.length > 40) running.lastErrorLines.shift();
      this.options.onLog(spec, 'stderr', text, requestId);
    });
    child.once('error', (err) => {
      running.lastErrorLines.push(`could not start the replica process: ${err.message}`);
    });
    // The exit is reported once the process's output has been read to the end ('close'), so that
    // it carries every line the model printed (its traceback) — or half a second after 'exit',
    // should a child of the model hold the pipes open.
    let reported = false;
    const report = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (reported) return;
      reported = true;
      this.onExit(running, code, signal);
    };
    child.once('close', report);
    child.once('exit', (code, signal) => setTimeout(() => report(code, signal), 500).unref());
    return { ...handle };
  }

  private async pollReadiness(running: Running): Promise<void> {
    const ready = await waitUntilReady(running.handle.address!, {
      intervalMs: this.options.readinessIntervalMs ?? 25,
      stillWanted: () => running.handle.phase === 'STARTING',
    });
    if (!ready || running.handle.phase !== 'STARTING') return;
    running.handle.phase = 'READY';
    running.handle.readyAtMs = Date.now();
    this.emit({ type: 'ready', replica: { ...running.handle } });
  }

  private onExit(running: Running, code: number | null, signal: NodeJS.Signals | null): void {
    const handle = running.handle;
    const oom = running.limits?.oom() ?? null;
    running.limits?.stop();
    this.inventory.release(handle.id);
    const expected = running.stopRequested && !oom;
    const wasReady = handle.readyAtMs !== null;
    const exit: ReplicaExit = {
      code,
      signal,
      expected,
      wasReady,
      reason: oom ?? exitReason(running, code, signal),
      output: errorOutput(running),
    };
    handle.phase = expected || code === 0 ? 'STOPPED' : 'FAILED';
    handle.exit = exit;
    this.replicas.delete(handle.id);
    this.emit({ type: 'exited', replica: { ...handle }, exit });
  }

  async stop(replicaId: string, { drainMs }: { drainMs: number }): Promise<void> {
    const running = this.replicas.get(replicaId);
    if (!running) return;
    running.stopRequested = true;
    if (running.handle.phase === 'STARTING' || running.handle.phase === 'READY') {
      running.handle.phase = 'DRAINING';
      this.emit({ type: 'draining', replica: { ...running.handle } });
    }
    const deadline = Date.now() + drainMs;
    const inFlight = (): number => this.options.inFlightOf?.(running.handle.deploymentId, replicaId) ?? 0;
    while (inFlight() > 0 && Date.now() < deadline && running.child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 10));
    }
    running.child.kill('SIGTERM');
    const timer = setTimeout(() => running.child.kill('SIGKILL'), Math.max(0, deadline - Date.now()));
    await running.exited;
    clearTimeout(timer);
  }

  list(deploymentId?: string): ReplicaHandle[] {
    const out: ReplicaHandle[] = [];
    for (const r of this.replicas.values()) {
      if (deploymentId === undefined || r.handle.deploymentId === deploymentId) out.push({ ...r.handle });
    }
    return out;
  }

  watch(listener: (event: ReplicaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private standbysFor(spec: ReplicaSpec): StandbyPool | undefined {
    if (spec.language === 'typescript') return this.pool;
    if (!this.options.pythonStandbys || !spec.envDir) return undefined;
    let interpreter: string;
    try {
      interpreter = realpathSync(join(spec.envDir, 'bin', 'python'));
    } catch {
      return undefined;
    }
    let pool = this.pythonPools.get(interpreter);
    if (!pool) {
      pool = new StandbyPool(this.options.pythonStandbys, () => pythonReplicaCommand(interpreter), baseEnv);
      pool.fill();
      this.pythonPools.set(interpreter, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    this.pool?.close();
    for (const pool of this.pythonPools.values()) pool.close();
    await Promise.all([...this.replicas.keys()].map((id) => this.stop(id, { drainMs: 5000 })));
  }

  private emit(event: ReplicaEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        console.error('replica event listener failed', err);
      }
    }
  }
}

/** What every replica process gets from the platform's own environment. */
function baseEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LANG: process.env.LANG ?? 'C.UTF-8',
    PLINTH_PARENT_PID: String(process.pid),
  };
}

/** What the model printed from its load() failure on (its traceback), when it failed loading. */
function errorOutput(running: Running): string | undefined {
  const from = running.lastErrorLines.findIndex((l) => l.startsWith(LOAD_FAILED));
  if (from === -1)
    return running.handle.readyAtMs === null ? running.lastErrorLines.join('\n') || undefined : undefined;
  return running.lastErrorLines.slice(from).join('\n');
}

function exitReason(running: Running, code: number | null, signal: NodeJS.Signals | null): string {
  const loadError = running.lastErrorLines.find((l) => l.startsWith(LOAD_FAILED));
  if (loadError) return `load() failed: ${loadError.slice(LOAD_FAILED.length)}`;
  if (running.stopRequested) return 'stopped by the platform';
  const last = running.lastErrorLines.filter((l) => l.trim() !== '').at(-1);
  const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
  return last ? `replica ${how}: ${last}` : `replica ${how}`;
}

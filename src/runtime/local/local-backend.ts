// The local RuntimeBackend: each replica is a process on this machine. It listens on a port the OS
// picks (announced on stdout), is polled for readiness, drains on SIGTERM and is killed after the
// grace period. It writes its output to files, passed on line by line; exits are reported with the
// model's own error. Replicas outlive a crashed server for a grace period, and the next server on
// the same home adopts them (`adopt()`) rather than starting them again.
import { spawn } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { PendingError } from '../backend.ts';
import { waitDrained } from '../drain-wait.ts';
import type {
  Capacity,
  ReplicaEvent,
  ReplicaExit,
  ReplicaHandle,
  ReplicaSpec,
  StopRequest,
  RuntimeBackend,
} from '../backend.ts';
import { readMark } from '../replica-log-mark.ts';
import { ReplicaListeners } from '../replica-listeners.ts';
import { launchCommand, nodeReplicaCommand, pythonReplicaCommand } from './launch.ts';
import { ReplicaLimits } from './limits.ts';
import type { AppliedLimits } from './limits.ts';
import { OutputTail } from './output-tail.ts';
import { Inventory } from './placement.ts';
import { isSameProcess, openOutput, processStart, ReplicaFiles } from './replica-files.ts';
import type { ReplicaRecord, StoredSpec } from './replica-files.ts';
import { adoptedReplicaProcess, childReplicaProcess } from './replica-process.ts';
import type { ProcessExit, ReplicaProcess } from './replica-process.ts';
import { StandbyPool } from './standby-pool.ts';
import { waitUntilReady } from '../readiness.ts';

export type ReplicaLogSink = (
  spec: StoredSpec,
  stream: 'stdout' | 'stderr',
  line: string,
  requestId: string | null,
) => void;

const LISTENING = /^plinth: listening on (\S+)$/;
const LOAD_FAILED = 'plinth: load() failed: ';

interface Running {
  record: ReplicaRecord;
  handle: ReplicaHandle;
  process: ReplicaProcess;
  stopRequested: boolean;
  lastErrorLines: string[];
  /** Resolves once the exit has been reported. */
  exited: Promise<void>;
  limits: AppliedLimits | null;
}

const DEFAULT_GRACE_S = 60;

export interface LocalBackendOptions {
  onLog: ReplicaLogSink;
  /** Where replica records and output files are kept (`<home>/run/replicas`). */
  runDir: string;
  /** How long a replica keeps serving after its server died, waiting to be adopted (default 60 s). */
  graceS?: number;
  /** Pre-started Node model servers kept waiting for a replica start (0: none). */
  nodeStandbys?: number;
  /** Pre-started Python model servers per interpreter, once one has been used (0: none). */
  pythonStandbys?: number;
  /** Readiness is polled this often while a replica loads. */
  readinessIntervalMs?: number;
  /** What replicas may be placed on (default: the host's CPUs and memory, no GPUs). */
  capacity?: Capacity;
  /** How instance types are enforced (default: detected). */
  limits?: ReplicaLimits;
}

export class LocalBackend implements RuntimeBackend {
  readonly name = 'local';
  private readonly replicas = new Map<string, Running>();
  private readonly listeners = new ReplicaListeners();
  private readonly options: LocalBackendOptions;

  private pool: StandbyPool | undefined;
  /** Python standbys per base interpreter; a takeover adds the replica's venv to the path. */
  private readonly pythonPools = new Map<string, StandbyPool>();

  private readonly inventory: Inventory;
  readonly limits: ReplicaLimits;
  private readonly files: ReplicaFiles;
  /** Replicas whose record on disk is behind (a write failed: a full disk); written again each second. */
  private readonly unsaved = new Set<string>();
  private adopted = false;

  constructor(options: LocalBackendOptions) {
    this.options = options;
    this.inventory = new Inventory(
      options.capacity ?? { cpu: availableParallelism(), memoryBytes: totalmem(), gpus: [] },
    );
    this.limits = options.limits ?? ReplicaLimits.detect(this.inventory.capacity.cpu);
    this.files = new ReplicaFiles(options.runDir);
  }

  capacity(): Capacity {
    return this.inventory.capacity;
  }

  describe(): string {
    return this.limits.describe();
  }

  async start(spec: ReplicaSpec): Promise<ReplicaHandle> {
    if (!this.adopted)
      throw new Error('the local backend starts replicas only once it has adopted (adopt())');
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
      PLINTH_PARENT_FILE: this.files.parentFile(spec.replicaId),
      PLINTH_REPLICA_GRACE_S: String(this.options.graceS ?? DEFAULT_GRACE_S),
      ...(spec.envDir ? { PLINTH_ENV_DIR: spec.envDir } : {}),
    };
    const lastErrorLines: string[] = [];
    const onError = (err: Error): void => {
      lastErrorLines.push(`could not start the replica process: ${err.message}`);
    };
    const standby = this.standbysFor(spec)?.take(env, spec.appDir);
    let proc: ReplicaProcess;
    if (standby) {
      this.files.rename(standby.name, spec.replicaId);
      proc = childReplicaProcess(standby.child, onError);
    } else {
      const output = openOutput(this.files.output(spec.replicaId));
      const child = spawn(command, args, {
        cwd: spec.appDir,
        stdio: ['ignore', output.out, output.err],
        env,
      });
      output.close();
      proc = childReplicaProcess(child, onError);
    }
    const { env: _secrets, ...stored } = spec;
    const record: ReplicaRecord = {
      spec: stored,
      pid: proc.pid ?? 0,
      processStart: proc.pid === undefined ? null : processStart(proc.pid),
      startedAtMs: Date.now(),
      address: null,
      gpus: placed.gpus,
      stopping: false,
      offsets: { out: 0, err: 0 },
    };
    if (proc.pid !== undefined) this.save(record);
    const running = this.attach(record, proc, lastErrorLines);
    return { ...running.handle };
  }

  /**
   * Takes on the replicas an earlier server on this home left running: they are routed to again
   * once they answer, their output is followed from where it was left, and those it was stopping
   * are stopped. What else it left (replicas that ended meanwhile, its standbys) is cleared, and
   * this backend's own standbys start. Call once, after subscribing to `watch()` and before the
   * first start: until then the replica directory may still belong to another server.
   */
  adopt(): ReplicaHandle[] {
    if (this.adopted) return [];
    this.adopted = true;
    const found = this.files.records().filter((r) => isSameProcess(r.pid, r.processStart));
    this.files.removeAllBut(new Set(found.map((r) => r.spec.replicaId)));
    const adopted: ReplicaHandle[] = [];
    for (const record of found) {
      this.inventory.hold(record.spec.replicaId, record.spec.resources, record.gpus);
      // The replica reads its new owner here, and stops waiting to be adopted.
      writeFileSync(this.files.parentFile(record.spec.replicaId), String(process.pid));
      const running = this.attach(record, adoptedReplicaProcess(record.pid, record.processStart), []);
      adopted.push({ ...running.handle });
      if (record.stopping) void this.stop(record.spec.replicaId, { drainMs: 5000 });
    }
    if (this.options.nodeStandbys) {
      this.pool = new StandbyPool(this.options.nodeStandbys, nodeReplicaCommand, baseEnv, this.files);
      this.pool.fill();
    }
    return adopted;
  }

  /** Follows a replica process: its output, its address and readiness, its limits and its exit. */
  private attach(record: ReplicaRecord, proc: ReplicaProcess, lastErrorLines: string[]): Running {
    const spec = record.spec;
    const handle: ReplicaHandle = {
      id: spec.replicaId,
      deploymentId: spec.deploymentId,
      phase: 'STARTING',
      address: record.address,
      startedAtMs: record.startedAtMs,
      readyAtMs: null,
      exit: null,
      instanceType: spec.resources.instanceType,
      // Records written before revisions existed run revision 0.
      revision: spec.revision ?? 0,
      gpus: record.gpus,
      pid: proc.pid,
    };
    let reported!: () => void;
    const running: Running = {
      record,
      handle,
      process: proc,
      stopRequested: record.stopping,
      lastErrorLines,
      exited: new Promise((resolve) => (reported = resolve)),
      limits: null,
    };
    this.replicas.set(spec.replicaId, running);
    if (proc.pid !== undefined) {
      running.limits = this.limits.apply(spec.replicaId, proc.pid, spec.resources, () =>
        proc.kill('SIGKILL'),
      );
    }
    const paths = this.files.output(spec.replicaId);
    const out = new OutputTail(paths.out, record.offsets.out, (line) => {
      const listening = LISTENING.exec(line);
      if (listening && handle.address === null) {
        handle.address = listening[1]!;
        record.address = handle.address;
        this.save(record);
        void this.pollReadiness(running);
        return;
      }
      const { requestId, text } = readMark(line);
      this.options.onLog(spec, 'stdout', text, requestId);
    });
    const err = new OutputTail(paths.err, record.offsets.err, (line) => {
      const { requestId, text } = readMark(line);
      lastErrorLines.push(text);
      if (lastErrorLines.length > 40) lastErrorLines.shift();
      this.options.onLog(spec, 'stderr', text, requestId);
    });
    if (handle.address !== null) void this.pollReadiness(running);
    // How far the output was passed on is kept, so that an adopting server neither repeats nor skips lines.
    const keepOffsets = setInterval(() => {
      const moved = record.offsets.out !== out.offset || record.offsets.err !== err.offset;
      if (!moved && !this.unsaved.has(spec.replicaId)) return;
      record.offsets = { out: out.offset, err: err.offset };
      this.save(record);
    }, 1000);
    keepOffsets.unref();
    void proc.exited.then((status) => {
      clearInterval(keepOffsets);
      // Everything the process wrote is read before its exit is reported (its traceback).
      out.close();
      err.close();
      this.onExit(running, status);
      reported();
    });
    return running;
  }

  /**
   * Writes a replica's record for a later server to adopt it by. A write that fails (a full disk)
   * never stops the replica from running or stopping: the record is written again each second
   * until it succeeds; meanwhile only a crash of this server would lose the replica.
   */
  private save(record: ReplicaRecord): void {
    const id = record.spec.replicaId;
    try {
      this.files.write(record);
      this.unsaved.delete(id);
    } catch (err) {
      if (!this.unsaved.has(id))
        console.error(`replica ${id}: could not save its record (${(err as Error).message}); trying again`);
      this.unsaved.add(id);
    }
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

  private onExit(running: Running, { code, signal }: ProcessExit): void {
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
    // An adopted replica's exit status is not known: only an asked-for stop counts as a clean one.
    handle.phase = expected || code === 0 ? 'STOPPED' : 'FAILED';
    handle.exit = exit;
    this.replicas.delete(handle.id);
    this.unsaved.delete(handle.id);
    this.files.remove(handle.id);
    this.emit({ type: 'exited', replica: { ...handle }, exit });
  }

  async stop(replicaId: string, { drainMs, drained }: StopRequest): Promise<void> {
    const running = this.replicas.get(replicaId);
    if (!running) return;
    running.stopRequested = true;
    if (!running.record.stopping) {
      running.record.stopping = true;
      this.save(running.record);
    }
    if (running.handle.phase === 'STARTING' || running.handle.phase === 'READY') {
      running.handle.phase = 'DRAINING';
      this.emit({ type: 'draining', replica: { ...running.handle } });
    }
    const left = await waitDrained(drained, drainMs, running.exited);
    // The model server finishes what it still has on SIGTERM, within what is left of the drain.
    running.process.kill('SIGTERM');
    const timer = setTimeout(() => running.process.kill('SIGKILL'), left);
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
    return this.listeners.add(listener);
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
      pool = new StandbyPool(
        this.options.pythonStandbys,
        () => pythonReplicaCommand(interpreter),
        baseEnv,
        this.files,
      );
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
    this.listeners.emit(event);
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
  const how = signal
    ? `killed by ${signal}`
    : code !== null
      ? `exited with code ${code}`
      : 'ended (adopted after a server restart: its exit status is not known)';
  return last ? `replica ${how}: ${last}` : `replica ${how}`;
}

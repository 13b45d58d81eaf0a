// The local RuntimeBackend: each replica is a process on this machine. It listens on a port the OS
// picks (announced on stdout), is polled for readiness, drains on SIGTERM and is killed after the
// grace period. It writes its output to files, passed on line by line; exits are reported with the
// model's own error. Replicas outlive a crashed server for a grace period, and the next server on
// the same home adopts them (`adopt()`) rather than starting them again.
import { randomBytes } from 'node:crypto';
import { availableParallelism, totalmem } from 'node:os';
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
import { baseEnv, spawnReplica } from './launch.ts';
import { ReplicaLimits } from './limits.ts';
import type { AppliedLimits } from './limits.ts';
import { OutputTail } from './output-tail.ts';
import { errorOutput, exitReason } from './replica-exit.ts';
import { Inventory } from './placement.ts';
import { isSameProcess, processStart, ReplicaFiles } from './replica-files.ts';
import type { ReplicaRecord, StoredSpec } from './replica-files.ts';
import { RecordSaver } from './record-saver.ts';
import { adoptedReplicaProcess, childReplicaProcess, killGroup } from './replica-process.ts';
import type { ProcessExit, ReplicaProcess } from './replica-process.ts';
import { handOver, startStandby } from './standby-pool.ts';
import {
  confinedLaunch,
  customServerEnv,
  freePort,
  removeSecretFiles,
  secretFilesDir,
  spawnCustomServer,
  writeSecretFiles,
} from './custom-server-launch.ts';
import { watchLiveness } from './liveness.ts';
import { healthThresholdsOf, singleReplicaReason } from '../../domain/custom-server.ts';
import type { CustomServer, HealthThresholds } from '../../domain/custom-server.ts';
import type { Standby } from './standby-pool.ts';
import { baseInterpreter, StandbyPools } from './standby-pools.ts';
import { ReplicaSandbox } from './replica-sandbox.ts';
import { detectSandbox } from './sandbox-mode.ts';
import type { SandboxMode } from './sandbox-mode.ts';
import { homeOfReplicaRun } from '../../home.ts';
import { MODEL_READY_PATH, waitUntilReady } from '../readiness.ts';

export type ReplicaLogSink = (
  spec: StoredSpec,
  stream: 'stdout' | 'stderr',
  line: string,
  requestId: string | null,
) => void;

const LISTENING = /^plinth: listening on (\S+)$/;
/** A server's access-log line for one request ("GET /health HTTP/1.1" 200). */
const ACCESS_LOG = /"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ HTTP\/[\d.]+"/;

interface Running {
  record: ReplicaRecord;
  handle: ReplicaHandle;
  process: ReplicaProcess;
  stopRequested: boolean;
  lastErrorLines: string[];
  /** Resolves once the exit has been reported. */
  exited: Promise<void>;
  limits: AppliedLimits | null;
  /** Why the platform ended it, when it did (a custom server that never got ready or stopped living). */
  failure?: string;
  /** Stops watching a custom server's liveness. */
  stopLiveness?: () => void;
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
  /** How replicas are kept from the server's home (default: detected; PLINTH_REPLICA_SANDBOX=off turns it off). */
  sandbox?: SandboxMode;
  /** The Plinth home replicas must not read (default: the one `runDir` is in, if it is `<home>/run/replicas`). */
  home?: string | null;
}

/** The least a replica gets between SIGTERM and SIGKILL, whatever its drain used. */
const SIGTERM_GRACE_MS = 2000;

export class LocalBackend implements RuntimeBackend {
  readonly name = 'local';
  private readonly replicas = new Map<string, Running>();
  private readonly listeners = new ReplicaListeners();
  private readonly options: LocalBackendOptions;

  private readonly standbys: StandbyPools;
  /** How replicas are kept from the server's home (chosen at start-up). */
  private readonly sandbox: ReplicaSandbox;

  private readonly inventory: Inventory;
  readonly limits: ReplicaLimits;
  private readonly files: ReplicaFiles;
  private readonly saver: RecordSaver;
  private adopted = false;

  constructor(options: LocalBackendOptions) {
    this.options = options;
    this.inventory = new Inventory(
      options.capacity ?? { cpu: availableParallelism(), memoryBytes: totalmem(), gpus: [] },
    );
    this.limits = options.limits ?? ReplicaLimits.detect(this.inventory.capacity.cpu);
    this.files = new ReplicaFiles(options.runDir);
    this.saver = new RecordSaver(this.files);
    this.sandbox = new ReplicaSandbox(
      options.sandbox ?? detectSandbox(),
      options.home === undefined ? homeOfReplicaRun(options.runDir) : options.home,
    );
    this.standbys = new StandbyPools({
      nodeStandbys: options.nodeStandbys ?? 0,
      pythonStandbys: options.pythonStandbys ?? 0,
      files: this.files,
      prefix: this.sandbox.prefix(),
    });
  }

  capacity(): Capacity {
    return this.inventory.capacity;
  }

  describe(): string {
    return `${this.limits.describe()}; ${this.sandbox.describe()}`;
  }

  async start(spec: ReplicaSpec): Promise<ReplicaHandle> {
    if (!this.adopted)
      throw new Error('the local backend starts replicas only once it has adopted (adopt())');
    const server = spec.server ?? null;
    if (server && !server.perReplicaPort) this.checkFixedPort(server);
    const port = server ? (server.perReplicaPort ? await freePort() : server.port) : null;
    const placed = this.inventory.place(spec.replicaId, spec.resources);
    if (!placed.ok) throw new PendingError(placed.reason);
    const uid = this.sandbox.assign(spec);
    const visible = placed.gpus.join(',');
    // Its model server answers only who sends this (the gateways), not anyone on the machine. A
    // custom server answers whoever reaches its port: it has no such check.
    const token = server ? null : randomBytes(24).toString('base64url');
    const env: Record<string, string> = {
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
      ...(token ? { PLINTH_REPLICA_TOKEN: token } : {}),
      ...(spec.envDir ? { PLINTH_ENV_DIR: spec.envDir } : {}),
      // Last: the model's own environment variables cannot change whom it runs as.
      ...this.sandbox.env(spec, uid),
    };
    const lastErrorLines: string[] = [];
    const onError = (err: Error): void => {
      lastErrorLines.push(`could not start the replica process: ${err.message}`);
    };
    let standby: Standby | undefined;
    let proc: ReplicaProcess;
    try {
      if (server) {
        const secrets = JSON.parse(spec.env.PLINTH_SECRETS_JSON ?? '{}') as Record<string, string>;
        Object.assign(env, customServerEnv(spec, port!, writeSecretFiles(spec, secrets, uid), env.PATH!));
        if (this.sandbox.isolated) {
          standby = startStandby(confinedLaunch(server, uid), this.sandbox.prefix(), env, this.files, true);
          // What its command runs on: the Python its environment was made from stays reachable.
          if (spec.envDir) standby.interpreter = baseInterpreter(spec.envDir);
        }
      } else {
        standby =
          this.standbys.for(spec)?.take() ?? (this.sandbox.isolated ? this.standbys.fresh(spec) : undefined);
      }
      if (standby) {
        this.files.rename(standby.name, spec.replicaId);
        proc = childReplicaProcess(standby.child, onError, server !== null);
        // Not confined: it becomes the replica at once, as it always did.
        if (!this.sandbox.isolated) {
          this.files.renameParent(standby.name, spec.replicaId);
          handOver(standby, env, spec.appDir);
        }
      } else {
        const paths = this.files.output(spec.replicaId);
        const child = server ? spawnCustomServer(spec, server, env, paths) : spawnReplica(spec, env, paths);
        proc = childReplicaProcess(child, onError, server !== null);
      }
    } catch (err) {
      // A start that could not begin (a full disk) holds no place and no user.
      standby?.child.kill('SIGKILL');
      if (server) removeSecretFiles(secretFilesDir(spec));
      this.inventory.release(spec.replicaId);
      this.sandbox.release(spec.replicaId);
      throw err;
    }
    const { env: _secrets, ...stored } = spec;
    const record: ReplicaRecord = {
      spec: stored,
      pid: proc.pid ?? 0,
      processStart: proc.pid === undefined ? null : processStart(proc.pid),
      startedAtMs: Date.now(),
      // A custom server's address is known at once: readiness is polled from the start.
      address: port === null ? null : `127.0.0.1:${port}`,
      gpus: placed.gpus,
      uid,
      token,
      stopping: false,
      offsets: { out: 0, err: 0 },
    };
    this.saver.saveParent(spec.replicaId);
    if (proc.pid !== undefined) this.saver.save(record);
    const running = this.attach(record, proc, lastErrorLines);
    if (standby && this.sandbox.isolated) void this.confineAndHandOver(running, standby, env);
    return { ...running.handle };
  }

  /** A confined replica: once its process is up, its files and mounts are made, then it is handed its replica. */
  private async confineAndHandOver(
    running: Running,
    standby: Standby,
    env: Record<string, string>,
  ): Promise<void> {
    const spec = running.record.spec;
    try {
      await standby.booted;
      // The parent file it opened as it booted is now this replica's (rewritten in place on adoption).
      this.files.renameParent(standby.name, spec.replicaId);
      this.files.writeParent(spec.replicaId, process.pid);
      await this.sandbox.confine(standby.child.pid!, spec, running.record.uid ?? null, {
        interpreter: standby.interpreter,
        scratch: this.files.scratch(spec.replicaId),
        ...(spec.server ? { readable: [secretFilesDir(spec)] } : {}),
      });
      if (!running.stopRequested && !running.process.hasExited()) handOver(standby, env, spec.appDir);
    } catch (err) {
      if (running.stopRequested || running.process.hasExited()) return;
      const line = `plinth: could not start the replica: ${(err as Error).message}`;
      running.lastErrorLines.push(line);
      this.options.onLog(running.record.spec, 'stderr', line, null);
      running.process.kill('SIGKILL');
    }
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
      this.sandbox.hold(record.spec.replicaId, record.spec.deploymentId, record.uid);
      // The replica reads its new owner here, and stops waiting to be adopted.
      this.saver.saveParent(record.spec.replicaId);
      const running = this.attach(
        record,
        adoptedReplicaProcess(record.pid, record.processStart, Boolean(record.spec.server)),
        [],
      );
      adopted.push({ ...running.handle });
      if (record.stopping) void this.stop(record.spec.replicaId, { drainMs: 5000 });
    }
    this.standbys.start();
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
      token: record.token ?? null,
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
    const remember = (text: string): void => {
      lastErrorLines.push(text);
      if (lastErrorLines.length > 40) lastErrorLines.shift();
    };
    const paths = this.files.output(spec.replicaId);
    const out = new OutputTail(paths.out, record.offsets.out, (line) => {
      const listening = LISTENING.exec(line);
      if (listening && handle.address === null) {
        handle.address = listening[1]!;
        record.address = handle.address;
        this.saver.save(record);
        void this.pollReadiness(running);
        return;
      }
      const { requestId, text } = readMark(line);
      // A custom server's own output says why it failed, on either stream.
      if (spec.server) remember(text);
      this.options.onLog(spec, 'stdout', text, requestId);
    });
    const err = new OutputTail(paths.err, record.offsets.err, (line) => {
      const { requestId, text } = readMark(line);
      remember(text);
      this.options.onLog(spec, 'stderr', text, requestId);
    });
    if (handle.address !== null) void this.pollReadiness(running);
    // How far the output was passed on is kept, so that an adopting server neither repeats nor skips lines.
    const keepOffsets = setInterval(() => {
      const moved = record.offsets.out !== out.offset || record.offsets.err !== err.offset;
      if (moved) {
        record.offsets = { out: out.offset, err: err.offset };
        this.saver.save(record);
      } else if (this.saver.isBehind(spec.replicaId)) this.saver.retry(spec.replicaId);
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

  private async pollReadiness(running: Running): Promise<void> {
    const server = running.record.spec.server ?? null;
    const health = healthThresholdsOf(running.record.spec.config);
    // A fresh start has startup_threshold_seconds to get ready; one adopted from an earlier server
    // (started long ago, ready then) is only probed until it answers.
    const deadline = running.process.isChild ? running.handle.startedAtMs + health.startupS * 1000 : Infinity;
    const ready = await waitUntilReady(running.handle.address!, {
      intervalMs: this.options.readinessIntervalMs ?? 25,
      ...(server ? { path: server.readinessPath, maxIntervalMs: 1000 } : {}),
      stillWanted: () => running.handle.phase === 'STARTING' && Date.now() < deadline,
    });
    if (!ready) {
      if (running.handle.phase === 'STARTING' && !running.process.hasExited())
        this.endReplica(
          running,
          server
            ? `did not answer its readiness endpoint ${server.readinessPath} within ${health.startupS} s`
            : `was not ready within ${health.startupS} s (runtime.health_checks.startup_threshold_seconds)`,
        );
      return;
    }
    if (running.handle.phase !== 'STARTING') return;
    this.markReady(running);
    this.watchHealth(running, server, health);
  }

  private markReady(running: Running): void {
    running.handle.phase = 'READY';
    running.handle.readyAtMs ??= Date.now();
    this.emit({ type: 'ready', replica: { ...running.handle } });
  }

  /**
   * A ready replica's health — a custom server's liveness endpoint, a model's `is_healthy()`
   * through its readiness route — takes it out of routing and back, or replaces it.
   */
  private watchHealth(running: Running, server: CustomServer | null, health: HealthThresholds): void {
    const target = server
      ? {
          path: server.livenessPath,
          failing: `its liveness endpoint ${server.livenessPath} has not answered 2xx`,
        }
      : { path: MODEL_READY_PATH, failing: 'its model has not been healthy (is_healthy)' };
    const address = running.handle.address!;
    running.stopLiveness = watchLiveness({ address, health, ...target }, running.handle.readyAtMs!, {
      unready: (reason) => {
        if (running.handle.phase !== 'READY') return;
        running.handle.phase = 'STARTING';
        this.emit({ type: 'unready', replica: { ...running.handle }, reason });
      },
      ready: () => {
        if (running.handle.phase === 'STARTING') this.markReady(running);
      },
      replace: (reason) => this.endReplica(running, reason),
    });
  }

  /** Ends a replica the platform gave up on, with why (and the last thing it printed). */
  private endReplica(running: Running, why: string): void {
    // Its last words, not the access-log line of a probe (uvicorn logs every request).
    const last = running.lastErrorLines.filter((l) => l.trim() !== '' && !ACCESS_LOG.test(l)).at(-1);
    running.failure = last ? `${why}; it last printed: ${last}` : why;
    running.process.kill('SIGKILL');
  }

  /** A server on a fixed port: this machine has room for one replica of it at a time. */
  private checkFixedPort(server: CustomServer): void {
    for (const other of this.replicas.values()) {
      const theirs = other.record.spec.server;
      if (theirs && !theirs.perReplicaPort && theirs.port === server.port)
        throw new PendingError(
          `port ${server.port} is taken by replica ${other.handle.id}: ${singleReplicaReason(server)}`,
        );
    }
  }

  private onExit(running: Running, { code, signal }: ProcessExit): void {
    const handle = running.handle;
    const oom = running.limits?.oom() ?? null;
    running.limits?.stop();
    running.stopLiveness?.();
    if (running.record.spec.server) {
      // What its command started (workers, engines) ends with it, and its secrets leave the disk.
      killGroup(running.record.pid, 'SIGKILL');
      removeSecretFiles(secretFilesDir(running.record.spec));
    }
    this.inventory.release(handle.id);
    this.sandbox.release(handle.id, running.record.spec.appDir);
    const expected = running.stopRequested && !oom;
    const wasReady = handle.readyAtMs !== null;
    const exit: ReplicaExit = {
      code,
      signal,
      expected,
      wasReady,
      reason:
        running.failure ?? oom ?? exitReason(running.lastErrorLines, running.stopRequested, code, signal),
      output: errorOutput(running.lastErrorLines, wasReady),
    };
    // An adopted replica's exit status is not known: only an asked-for stop counts as a clean one.
    handle.phase = expected || code === 0 ? 'STOPPED' : 'FAILED';
    handle.exit = exit;
    this.replicas.delete(handle.id);
    this.saver.forget(handle.id);
    this.files.remove(handle.id);
    this.emit({ type: 'exited', replica: { ...handle }, exit });
  }

  async stop(replicaId: string, { drainMs, drained }: StopRequest): Promise<void> {
    const running = this.replicas.get(replicaId);
    if (!running) return;
    running.stopRequested = true;
    // A custom server that fails its liveness while it drains is not cut short for it.
    running.stopLiveness?.();
    if (!running.record.stopping) {
      running.record.stopping = true;
      this.saver.save(running.record);
    }
    if (running.handle.phase === 'STARTING' || running.handle.phase === 'READY') {
      running.handle.phase = 'DRAINING';
      this.emit({ type: 'draining', replica: { ...running.handle } });
    }
    const left = await waitDrained(drained, drainMs, running.exited);
    // The model server finishes what it still has on SIGTERM, within what is left of the drain —
    // and never less than a moment, to tell open websockets it is going (1001) and exit.
    running.process.kill('SIGTERM');
    const timer = setTimeout(() => running.process.kill('SIGKILL'), Math.max(left, SIGTERM_GRACE_MS));
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

  async close(): Promise<void> {
    this.standbys.close();
    await Promise.all([...this.replicas.keys()].map((id) => this.stop(id, { drainMs: 5000 })));
  }

  private emit(event: ReplicaEvent): void {
    this.listeners.emit(event);
  }
}

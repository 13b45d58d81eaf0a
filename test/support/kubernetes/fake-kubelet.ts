// The fake cluster's kubelet: runs each pod bound to its node as local processes. A pod gets its own
// loopback address as its IP (127.0.1.x); images are a table of the commands each one holds;
// emptyDir and Secret volumes are directories, and a container sees its mount paths mapped onto them. It
// implements what Plinth's pods rely on: init containers in order, env from values, fieldRefs,
// Secrets and $(VAR) references, readiness probes, restarts with back-off (CrashLoopBackOff),
// termination messages from the log tail (FallbackToLogsOnError), image pull errors, and graceful
// deletion (preStop, SIGTERM, SIGKILL at the end of the grace period). Limits are not enforced and
// liveness probes are not run.
import { sleep } from '../wait.ts';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeKubernetes, Obj } from './fake-api-server.ts';
import { request } from 'node:http';

/** What an image holds: its commands (name → local argv prefix), its entrypoint and its ENV. */
export type ImageTable = Record<
  string,
  { commands: Record<string, string[]>; entrypoint?: string[]; env?: Record<string, string> }
>;

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: {
    name: string;
    value?: string;
    valueFrom?: {
      fieldRef?: { fieldPath: string };
      secretKeyRef?: { name: string; key: string; optional?: boolean };
    };
  }[];
  envFrom?: { secretRef?: { name: string; optional?: boolean } }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  readinessProbe?: { httpGet?: { path: string; port: number | string }; periodSeconds?: number };
  ports?: { name?: string; containerPort: number }[];
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  terminationMessagePolicy?: string;
}

interface PodSpec {
  nodeName?: string;
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string; emptyDir?: object; secret?: { secretName: string } }[];
}

interface ContainerStatus {
  name: string;
  image: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  state: Record<string, Record<string, unknown>>;
  lastState: Record<string, Record<string, unknown>>;
}

class PodRun {
  readonly processes = new Map<string, ChildProcess>();
  readonly dir: string;
  terminating = false;
  killTimer: NodeJS.Timeout | undefined;
  done: Promise<void>;
  finish!: () => void;
  statuses = new Map<string, ContainerStatus>();
  initStatuses = new Map<string, ContainerStatus>();
  phase = 'Pending';
  initialized = false;

  constructor(
    readonly namespace: string,
    readonly name: string,
    readonly ip: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `plinth-pod-${name}-`));
    this.done = new Promise((r) => (this.finish = r));
  }

  volume(name: string): string {
    const dir = join(this.dir, 'volumes', name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  logFile(container: string): string {
    return join(this.dir, `${container}.log`);
  }
}

const BACKOFF_MS = [300, 600, 1200, 2400, 5000];

export class FakeKubelet {
  private readonly pods = new Map<string, PodRun>(); // uid → run
  private nextIp = 2;
  private unsubscribe: () => void = () => {};

  constructor(
    private readonly api: FakeKubernetes,
    private readonly nodeName: string,
    private readonly images: ImageTable,
  ) {}

  start(): void {
    this.api.podTerminator = (pod) => this.pods.has(uidOf(pod));
    this.api.logFile = (namespace, name, container) => {
      const run = [...this.pods.values()].find((r) => r.namespace === namespace && r.name === name);
      const pod = this.api.get('pods', namespace, name);
      const first = (pod?.['spec'] as PodSpec | undefined)?.containers[0]?.name;
      return run ? run.logFile(container ?? first ?? '') : null;
    };
    this.unsubscribe = this.api.subscribe((plural, event) => {
      if (plural !== 'pods' || event.type === 'DELETED') return;
      const pod = event.object;
      const spec = pod['spec'] as PodSpec;
      if (spec.nodeName !== this.nodeName) return;
      const run = this.pods.get(uidOf(pod));
      const meta = pod.metadata as { deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
      if (!run && !meta.deletionTimestamp) void this.run(pod);
      else if (run && meta.deletionTimestamp) this.terminate(run, pod, meta.deletionGracePeriodSeconds ?? 30);
    });
  }

  async close(): Promise<void> {
    this.unsubscribe();
    for (const run of this.pods.values()) {
      run.terminating = true;
      for (const p of run.processes.values()) signal(p, 'SIGKILL');
    }
    await Promise.all([...this.pods.values()].map((r) => r.done));
  }

  private async run(pod: Obj): Promise<void> {
    const meta = pod.metadata as { name: string; namespace: string; uid: string };
    const spec = pod['spec'] as PodSpec;
    const n = this.nextIp++;
    const run = new PodRun(meta.namespace, meta.name, `127.0.${1 + Math.floor(n / 250)}.${n % 250}`);
    this.pods.set(meta.uid, run);
    try {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const statuses = spec.containers.includes(c) ? run.statuses : run.initStatuses;
        statuses.set(c.name, {
          name: c.name,
          image: c.image,
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'PodInitializing' } },
          lastState: {},
        });
      }
      this.publish(pod, run);
      const missing = [...(spec.initContainers ?? []), ...spec.containers].filter((c) => !this.imageOf(c));
      if (missing.length) {
        for (const c of missing) {
          const status = (run.statuses.get(c.name) ?? run.initStatuses.get(c.name))!;
          status.state = {
            waiting: {
              reason: 'ErrImagePull',
              message: `failed to pull and unpack image "${c.image}": not found: manifest unknown`,
            },
          };
        }
        this.publish(pod, run);
        await sleep(200);
        for (const c of missing) {
          const status = (run.statuses.get(c.name) ?? run.initStatuses.get(c.name))!;
          status.state = {
            waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` },
          };
        }
        this.publish(pod, run);
        while (!run.terminating) await sleep(50);
        return;
      }
      for (const c of spec.initContainers ?? []) {
        for (let attempt = 0; !run.terminating; attempt++) {
          const code = await this.runContainer(pod, run, c, run.initStatuses);
          if (code === 0 || run.terminating) break;
          await this.backOff(pod, run, c, run.initStatuses, attempt);
        }
      }
      if (run.terminating) return;
      run.initialized = true;
      run.phase = 'Running';
      await Promise.all(spec.containers.map((c) => this.keepRunning(pod, run, c)));
    } catch (err) {
      console.error(`fake kubelet: pod ${meta.name}: ${(err as Error).stack}`);
    } finally {
      this.api.remove('pods', meta.namespace, meta.name);
      this.pods.delete(meta.uid);
      run.finish();
      // Its output stays readable a moment, for log streams still reading it.
      setTimeout(() => rmSync(run.dir, { recursive: true, force: true }), 500);
    }
  }

  /** A main container: started, probed, restarted with back-off whenever it ends, until the pod goes. */
  private async keepRunning(pod: Obj, run: PodRun, c: Container): Promise<void> {
    for (let attempt = 0; !run.terminating; attempt++) {
      const started = Date.now();
      await this.runContainer(pod, run, c, run.statuses);
      if (run.terminating) return;
      if (Date.now() - started > 10_000) attempt = 0;
      await this.backOff(pod, run, c, run.statuses, attempt);
    }
  }

  private async backOff(
    pod: Obj,
    run: PodRun,
    c: Container,
    statuses: Map<string, ContainerStatus>,
    attempt: number,
  ): Promise<void> {
    const status = statuses.get(c.name)!;
    const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!;
    status.restartCount++;
    status.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${delay}ms restarting failed container=${c.name} pod=${run.name}`,
      },
    };
    this.publish(pod, run);
    const until = Date.now() + delay;
    while (!run.terminating && Date.now() < until) await sleep(50);
  }

  /** Runs a container once; resolves with its exit code. */
  private async runContainer(
    pod: Obj,
    run: PodRun,
    c: Container,
    statuses: Map<string, ContainerStatus>,
  ): Promise<number> {
    const status = statuses.get(c.name)!;
    let env: Record<string, string>;
    try {
      env = this.environment(pod, run, c);
      this.secretVolumes(pod, run);
    } catch (err) {
      status.state = { waiting: { reason: 'CreateContainerConfigError', message: (err as Error).message } };
      this.publish(pod, run);
      await sleep(1000);
      return 1;
    }
    const map = (s: string): string => this.mapPaths(run, c, expand(s, env));
    const image = this.imageOf(c)!;
    const argv = [...(c.command ?? image.entrypoint ?? []), ...(c.args ?? [])].map(map);
    const prefix = image.commands[argv[0] ?? ''];
    const log = openSync(run.logFile(c.name), 'a');
    if (!prefix) {
      closeSync(log);
      status.state = {
        waiting: {
          reason: 'RunContainerError',
          message: `exec: "${argv[0]}": executable file not found in $PATH`,
        },
      };
      this.publish(pod, run);
      await sleep(500);
      return 128;
    }
    for (const [k, v] of Object.entries(env)) env[k] = map(v);
    const child = spawn(prefix[0]!, [...prefix.slice(1), ...argv.slice(1)], {
      cwd: c.workingDir ? map(c.workingDir) : run.dir,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: run.dir,
        LANG: 'C.UTF-8',
        HOSTNAME: run.name,
        ...image.env,
        ...env,
      },
      stdio: ['ignore', log, log],
      // A container is its own process group: what its command starts ends with it.
      detached: true,
    });
    closeSync(log);
    run.processes.set(c.name, child);
    const exited = new Promise<number>((resolve) => {
      child.once('error', () => resolve(128));
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
    });
    const startedAt = timestamp();
    status.state = { running: { startedAt } };
    status.started = true;
    this.publish(pod, run);
    const probe = c.readinessProbe?.httpGet;
    let probing = true;
    if (probe && statuses === run.statuses) {
      const port =
        typeof probe.port === 'number'
          ? probe.port
          : c.ports?.find((p) => p.name === probe.port)?.containerPort;
      void (async () => {
        while (probing && !run.terminating) {
          const ready = await httpOk(run.ip, Number(port), probe.path);
          if (ready !== status.ready && probing && !run.terminating) {
            status.ready = ready;
            this.publish(pod, run);
          }
          await sleep(Math.min(1000, (c.readinessProbe?.periodSeconds ?? 10) * 1000));
        }
      })();
    }
    const code = await exited;
    probing = false;
    run.processes.delete(c.name);
    status.ready = false;
    const terminated: Record<string, unknown> = {
      exitCode: code,
      reason: code === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: timestamp(),
    };
    if (c.terminationMessagePolicy === 'FallbackToLogsOnError' && code !== 0)
      terminated['message'] = logTail(run.logFile(c.name));
    status.lastState = { terminated };
    status.state = { terminated };
    if (!run.terminating) this.publish(pod, run);
    return code;
  }

  private terminate(run: PodRun, pod: Obj, graceSeconds: number): void {
    const deadline =
      Date.parse((pod.metadata as { deletionTimestamp: string }).deletionTimestamp) + graceSeconds * 1000;
    clearTimeout(run.killTimer);
    run.killTimer = setTimeout(
      () => {
        for (const p of run.processes.values()) signal(p, 'SIGKILL');
      },
      Math.max(0, deadline - Date.now()),
    );
    if (run.terminating) return;
    run.terminating = true;
    const spec = pod['spec'] as PodSpec;
    void (async () => {
      await Promise.all(
        spec.containers.map(async (c) => {
          const process = run.processes.get(c.name);
          if (!process) return;
          const hook = c.lifecycle?.preStop;
          if (hook?.sleep) await sleep(hook.sleep.seconds * 1000);
          if (hook?.exec) await this.exec(pod, run, c, hook.exec.command);
          signal(process, 'SIGTERM');
        }),
      );
      // An init container still running is stopped too.
      for (const p of run.processes.values()) signal(p, 'SIGTERM');
    })();
  }

  /** Runs a command in a running container (a preStop hook), waiting for it to end. */
  private exec(pod: Obj, run: PodRun, c: Container, command: string[]): Promise<void> {
    const image = this.imageOf(c)!;
    const prefix = image.commands[command[0] ?? ''];
    if (!prefix) return Promise.resolve();
    const map = (s: string): string => this.mapPaths(run, c, s);
    return new Promise((resolve) => {
      const child = spawn(prefix[0]!, [...prefix.slice(1), ...command.slice(1).map(map)], {
        stdio: 'ignore',
        env: { PATH: process.env.PATH ?? '', ...this.environment(pod, run, c) },
      });
      run.processes.set(`${c.name}/preStop`, child);
      child.once('error', () => resolve());
      child.once('exit', () => {
        run.processes.delete(`${c.name}/preStop`);
        resolve();
      });
    });
  }

  private imageOf(c: Container): ImageTable[string] | undefined {
    return this.images[c.image] ?? this.images[c.image.replace(/:[^:/]+$/, '')];
  }

  /** Secret volumes: a directory of one file per key, as the kubelet projects them. */
  private secretVolumes(pod: Obj, run: PodRun): void {
    const meta = pod.metadata as { namespace: string };
    for (const v of (pod.spec as PodSpec).volumes ?? []) {
      if (!v.secret) continue;
      const found = this.api.get('secrets', meta.namespace, v.secret.secretName);
      if (!found) throw new Error(`secret "${v.secret.secretName}" not found`);
      const dir = run.volume(v.name);
      for (const [key, value] of Object.entries((found['data'] ?? {}) as Record<string, string>))
        writeFileSync(join(dir, key), Buffer.from(value, 'base64'), { mode: 0o440 });
    }
  }

  /** The container's environment: envFrom Secrets, then env in order (values, fieldRefs, Secrets). */
  private environment(pod: Obj, run: PodRun, c: Container): Record<string, string> {
    const env: Record<string, string> = {};
    const meta = pod.metadata as { name: string; namespace: string };
    const secret = (name: string, optional?: boolean): Record<string, string> | null => {
      const found = this.api.get('secrets', meta.namespace, name);
      if (!found) {
        if (optional) return null;
        throw new Error(`secret "${name}" not found`);
      }
      const data = (found['data'] ?? {}) as Record<string, string>;
      const strings = (found['stringData'] ?? {}) as Record<string, string>;
      return {
        ...Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        ),
        ...strings,
      };
    };
    for (const from of c.envFrom ?? []) {
      if (from.secretRef) Object.assign(env, secret(from.secretRef.name, from.secretRef.optional) ?? {});
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = expand(e.value, env);
      const field = e.valueFrom?.fieldRef?.fieldPath;
      if (field === 'status.podIP') env[e.name] = run.ip;
      else if (field === 'metadata.name') env[e.name] = meta.name;
      else if (field === 'metadata.namespace') env[e.name] = meta.namespace;
      else if (field === 'spec.nodeName') env[e.name] = this.nodeName;
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) {
        const value = secret(ref.name, ref.optional)?.[ref.key];
        if (value === undefined && !ref.optional)
          throw new Error(`couldn't find key ${ref.key} in Secret ${meta.namespace}/${ref.name}`);
        if (value !== undefined) env[e.name] = value;
      }
    }
    return env;
  }

  /** A path inside the container, mapped onto the volume directory mounted there. */
  private mapPaths(run: PodRun, c: Container, value: string): string {
    let out = value;
    const mounts = [...(c.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
    for (const m of mounts) {
      const local = join(run.volume(m.name), m.subPath ?? '');
      out = out.replace(
        new RegExp(`(^|[=:\\s])${escapeRegExp(m.mountPath)}(?=/|$|[:\\s])`, 'g'),
        `$1${local}`,
      );
    }
    return out;
  }

  private publish(pod: Obj, run: PodRun): void {
    const meta = pod.metadata as { name: string; namespace: string };
    if (!this.api.get('pods', meta.namespace, meta.name)) return;
    const containers = [...run.statuses.values()];
    const ready = run.initialized && containers.every((s) => s.ready);
    this.api.setStatus('pods', meta.namespace, meta.name, {
      phase: run.phase,
      podIP: run.ip,
      podIPs: [{ ip: run.ip }],
      hostIP: '127.0.0.1',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Initialized', status: run.initialized ? 'True' : 'False' },
        { type: 'ContainersReady', status: ready ? 'True' : 'False' },
        { type: 'Ready', status: ready ? 'True' : 'False' },
      ],
      initContainerStatuses: [...run.initStatuses.values()].map((s) => structuredClone(s)),
      containerStatuses: containers.map((s) => structuredClone(s)),
    });
  }
}

/** An HTTP probe: whether GET path answers 2xx or 3xx within a second. */
function httpOk(host: string, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function uidOf(pod: Obj): string {
  return (pod.metadata as { uid: string }).uid;
}

/** Kubernetes' $(VAR) references to variables defined before; $$ escapes. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) =>
    whole === '$$' ? '$' : name !== undefined && name in env ? env[name]! : whole,
  );
}

/** The termination message Kubernetes takes from a failed container's log: its last 80 lines or 2048 bytes. */
function logTail(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const lines = text.split('\n').slice(-81).join('\n');
  return Buffer.from(lines).subarray(-2048).toString('utf8');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Signals a container: its whole process group (a shell's children too), as a runtime would. */
function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    globalThis.process.kill(-child.pid, sig);
  } catch {
    child.kill(sig);
  }
}

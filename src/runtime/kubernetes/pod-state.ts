// What a replica's pod says, in the platform's words: where it listens and whether it is ready,
// why it waits (the scheduler's message), or why it failed — an image that cannot be pulled, a
// build that could not be fetched, a model server that exited (quoting the model's own load() error
// from the termination message). Pure.
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { FETCH_CONTAINER, MODEL_CONTAINER } from './manifests.ts';

export type PodState =
  | {
      kind: 'starting' | 'running';
      address: string | null;
      ready: boolean;
      waiting: string | null;
      /** The route its readiness probe asks (a custom server's own), to probe it the same way. */
      readyPath?: string;
    }
  | { kind: 'failed'; code: number | null; reason: string; output?: string; wasRunning: boolean }
  | { kind: 'terminating' };

const LOAD_FAILED = 'plinth: load() failed: ';
const IMAGE_ERRORS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_ERRORS = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

export function podState(pod: V1Pod, port: number): PodState {
  if (pod.metadata?.deletionTimestamp) return { kind: 'terminating' };
  const status = pod.status ?? {};
  if (status.phase === 'Failed') {
    // Evicted (the node ran short), or a node that went away: the whole pod is gone.
    return {
      kind: 'failed',
      code: null,
      reason: `Kubernetes ended its pod (${status.reason ?? 'Failed'}): ${status.message ?? 'no reason given'}`,
      wasRunning: true,
    };
  }
  const fetch = status.initContainerStatuses?.find((c) => c.name === FETCH_CONTAINER);
  const model = status.containerStatuses?.find((c) => c.name === MODEL_CONTAINER);
  for (const c of [fetch, model]) {
    const problem = c && containerProblem(c);
    if (problem) return problem;
  }
  const fetchFailed = fetch?.lastState?.terminated;
  if (fetchFailed && fetchFailed.exitCode !== 0) {
    return {
      kind: 'failed',
      code: fetchFailed.exitCode,
      reason: `could not fetch the build from the control plane: ${lastLine(fetchFailed.message) || `exit code ${fetchFailed.exitCode}`}`,
      output: fetchFailed.message || undefined,
      wasRunning: false,
    };
  }
  const ended = model?.lastState?.terminated ?? model?.state?.terminated;
  if (ended?.reason === 'OOMKilled') {
    const limit = pod.spec?.containers.find((c) => c.name === MODEL_CONTAINER)?.resources?.limits?.['memory'];
    return {
      kind: 'failed',
      code: ended.exitCode,
      reason: `out of memory: the replica used more than its instance type's ${limit ?? 'memory'} (OOMKilled)`,
      wasRunning: true,
    };
  }
  if (ended) return modelExit(ended.exitCode, ended.signal ?? null, ended.message, model!.restartCount > 0);
  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  const waiting =
    scheduled?.status === 'False'
      ? `the cluster has no room for it: ${scheduled.message ?? scheduled.reason}`
      : null;
  const running = !!model?.state?.running;
  const ip = status.podIP;
  // Where its model container listens: its `http` port (a custom server's own), else the default.
  const container = pod.spec?.containers.find((c) => c.name === MODEL_CONTAINER);
  const listens = container?.ports?.find((p) => p.name === 'http')?.containerPort ?? port;
  const readyPath = container?.readinessProbe?.httpGet?.path;
  return {
    kind: running ? 'running' : 'starting',
    ...(readyPath ? { readyPath } : {}),
    address: running && ip ? `${ip.includes(':') ? `[${ip}]` : ip}:${listens}` : null,
    ready: status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    waiting,
  };
}

function containerProblem(c: V1ContainerStatus): PodState | null {
  const waiting = c.state?.waiting;
  if (!waiting?.reason) return null;
  if (IMAGE_ERRORS.has(waiting.reason)) {
    return {
      kind: 'failed',
      code: null,
      reason: `cannot pull image "${c.image}": ${waiting.message ?? waiting.reason}`,
      wasRunning: false,
    };
  }
  if (CONFIG_ERRORS.has(waiting.reason)) {
    return {
      kind: 'failed',
      code: null,
      reason: `the ${c.name === FETCH_CONTAINER ? 'fetch' : 'model'} container cannot start: ${waiting.message ?? waiting.reason}`,
      wasRunning: false,
    };
  }
  return null;
}

function modelExit(
  code: number,
  signal: number | null,
  message: string | undefined,
  wasRunning: boolean,
): PodState {
  const lines = (message ?? '').split('\n');
  const loadLine = lines.findIndex((l) => l.startsWith(LOAD_FAILED));
  if (loadLine !== -1) {
    return {
      kind: 'failed',
      code,
      reason: `load() failed: ${lines[loadLine]!.slice(LOAD_FAILED.length)}`,
      output: lines.slice(loadLine).join('\n'),
      wasRunning,
    };
  }
  const how = signal
    ? `killed by signal ${signal}`
    : code === 137
      ? 'killed (out of memory or by SIGKILL)'
      : `exited with code ${code}`;
  const last = lastLine(message);
  return {
    kind: 'failed',
    code,
    reason: last ? `replica ${how}: ${last}` : `replica ${how}`,
    output: message || undefined,
    wasRunning,
  };
}

function lastLine(text: string | undefined): string {
  return (
    (text ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .at(-1) ?? ''
  );
}

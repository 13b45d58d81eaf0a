// What the operations and observers need of a world (the platform processes of one store kind,
// the models pushed to it), and the pieces both worlds share: the model each push deploys, which
// answers with its version, and pushing a new version of it.
import { writeTree } from '../support/write-tree.ts';
import type { ApiAnswer, CliResult, PlatformProcess } from './cluster.ts';
import type { StoreKind } from './plan.ts';
import type { Crash, Timeline } from './records.ts';

export interface OpOutcome {
  result: 'applied' | 'skipped' | 'failed';
  detail: string;
}

export const applied = (detail: string): OpOutcome => ({ result: 'applied', detail });
export const skipped = (detail: string): OpOutcome => ({ result: 'skipped', detail });
export const failed = (detail: string): OpOutcome => ({ result: 'failed', detail });

export interface ModelDir {
  name: string;
  dir: string;
  /** The version the next push bakes into the model (deployment `v<N>`). */
  nextVersion: number;
}

/** A way in for clients: resolves, per request, to the process that takes it. */
export interface Target {
  name: string;
  process(): PlatformProcess | null;
}

/** Faults that only one kind of world has (a fault it lacks is skipped). */
export interface WorldFaults {
  killServer?(downMs: number): Promise<OpOutcome>;
  diskFull?(holdMs: number): Promise<OpOutcome>;
  killLeader?(): Promise<OpOutcome>;
  storeOutage?(variant: number, holdMs: number): Promise<OpOutcome>;
}

export interface World extends WorldFaults {
  store: StoreKind;
  home: string;
  apiKey: string;
  models: ModelDir[];
  /** Every pid a platform process of the run has had. */
  platformPids: Set<number>;
  timeline: Timeline;
  crashes: Crash[];
  /** Notes for the summary (an operation this machine cannot do, and why). */
  notes: string[];
  targets: Target[];
  /** The management API of a live control plane. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>>;
  /** The management API of the process that runs the replicas (it knows their pids). */
  replicaApi<T = unknown>(method: string, path: string): Promise<ApiAnswer<T>>;
  cli(args: string[]): Promise<CliResult>;
  /** Every platform process slot (live or not). */
  processes(): PlatformProcess[];
  /** Control planes (their /metrics count concurrency). */
  controlPlanes(): PlatformProcess[];
  /** Faults still under way (a SIGSTOP, an outage): the run waits for them before it stops. */
  background: Set<Promise<void>>;
  /** Stops every process gracefully, as a user would. */
  stop(): Promise<void>;
  /** Ends everything whatever its state (processes, their replicas, store, mounts, files). */
  dispose(): Promise<void>;
}

export function modelConfig(name: string): string {
  // Deployments that serve no environment go back to zero 20 s after their last request.
  return `model_name: ${name}\nruntime:\n  predict_concurrency: 4\nautoscaling:\n  scale_down_delay: 20\n`;
}

/**
 * A model that answers its version (and, when asked, a padding of `pad` bytes) after 20–50 ms,
 * and logs now and then, as models do (its output is followed, and kept, by the platform).
 */
export function modelSource(version: number): string {
  return `export class Model {
  async predict(input: { pad?: number } | null) {
    await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 30)));
    if (Math.random() < 0.2) console.log('served a request with version ${version}');
    const pad = input && typeof input.pad === 'number' ? 'x'.repeat(Math.min(input.pad, 1 << 20)) : undefined;
    return pad === undefined ? { version: ${version} } : { version: ${version}, pad };
  }
}
`;
}

export function writeModel(model: ModelDir, version: number): void {
  writeTree(model.dir, { 'config.yaml': modelConfig(model.name), 'model/model.ts': modelSource(version) });
}

export interface Pushed {
  version: number;
  deploymentId: string | null;
  outcome: OpOutcome;
}

/** Pushes the model's next version as deployment `v<N>` with the CLI (`flags`: --promote, --no-wait). */
export async function pushVersion(world: World, model: ModelDir, flags: string[]): Promise<Pushed> {
  const version = model.nextVersion++;
  writeModel(model, version);
  const r = await world.cli([
    'push',
    model.dir,
    '--deployment-name',
    `v${version}`,
    '--output',
    'json',
    ...flags,
  ]);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
    return { version, deploymentId: null, outcome: failed(`push v${version} ${flags.join(' ')}: ${why}`) };
  }
  const out = JSON.parse(r.stdout) as { deployment_id: string; status: string };
  return {
    version,
    deploymentId: out.deployment_id,
    outcome: applied(
      `pushed ${model.name} v${version} ${flags.join(' ')} → ${out.deployment_id} ${out.status}`,
    ),
  };
}

/** Each model's v1 (production, as a first push is) and v2 beside it, ready to be promoted. */
export async function pushFirstVersions(world: World): Promise<void> {
  for (const model of world.models) {
    for (let i = 0; i < 2; i++) {
      const pushed = await pushVersion(world, model, []);
      if (pushed.outcome.result !== 'applied') throw new Error(`setup: ${pushed.outcome.detail}`);
    }
  }
}

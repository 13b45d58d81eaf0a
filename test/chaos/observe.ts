// What the run watches while it goes: each model's production environment every 250 ms (what
// serves it, any promotion's candidate), the deployments and their replicas every 1.5 s (pids and
// ports for the orphan check, ready replicas, versions by name), and the platform processes'
// resident memory every 2 s. Every call is bounded; a platform that does not answer is skipped.
import { sleep } from '../support/wait.ts';
import { rssOf } from './orphans.ts';
import type { EnvSample, ReplicaSample, RssSample } from './records.ts';
import type { World } from './world.ts';

export interface DeploymentView {
  model: string;
  id: string;
  name: string;
  status: string;
  statusReason: string | null;
  ready: number;
  starting: number;
  instanceType: string;
  isDevelopment: boolean;
}

export interface DeploymentJson {
  id: string;
  name: string;
  status: string;
  status_reason: string | null;
  active_replica_count: number;
  starting_replica_count: number;
  instance_type_name: string;
  is_development: boolean;
}

export interface ReplicaJson {
  id: string;
  status: string;
  address: string | null;
  pid: number | null;
  /** Its instance type as the backend runs it (null when the backend does not list it). */
  instance_type: string | null;
}

export interface EnvironmentJson {
  current_deployment_id: string | null;
  in_progress_promotion: { to_deployment_id: string; phase: string } | null;
}

const ENV_EVERY_MS = 250;
const REPLICAS_EVERY_MS = 1500;
const RSS_EVERY_MS = 2000;

export class Observers {
  readonly envSamples: EnvSample[] = [];
  readonly replicaSamples: ReplicaSample[] = [];
  readonly rss: RssSample[] = [];
  readonly replicaPids = new Set<number>();
  readonly replicaPorts = new Set<number>();
  /** The latest view of every deployment, by id. */
  readonly deployments = new Map<string, DeploymentView>();
  /** `${model}:${version}` → the deployment named v<version>. */
  readonly versions = new Map<string, string>();
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly world: World) {}

  start(): void {
    this.loops = [
      ...this.world.models.map((m) => this.every(ENV_EVERY_MS, () => this.pollEnvironment(m.name))),
      this.every(REPLICAS_EVERY_MS, () => this.collect()),
      this.every(RSS_EVERY_MS, async () => this.sampleRss()),
    ];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** Replicas starting or ready, over every deployment, as last seen. */
  liveReplicas(): number {
    return [...this.deployments.values()].reduce((n, d) => n + d.ready + d.starting, 0);
  }

  deploymentsOf(model: string): DeploymentView[] {
    return [...this.deployments.values()].filter((d) => d.model === model);
  }

  deploymentOf(model: string, version: number): string | undefined {
    return this.versions.get(`${model}:${version}`);
  }

  private async every(ms: number, fn: () => Promise<void>): Promise<void> {
    while (!this.stopping) {
      const started = Date.now();
      try {
        await fn();
      } catch {
        // an observer never ends the run; the next pass tries again
      }
      const left = ms - (Date.now() - started);
      if (left > 0) await sleep(left);
    }
  }

  private async pollEnvironment(model: string): Promise<void> {
    const sentMs = Date.now();
    const r = await this.world.api<EnvironmentJson>('GET', `/v1/models/${model}/environments/production`);
    if (r.status !== 200) return;
    this.envSamples.push({
      model,
      sentMs,
      receivedMs: Date.now(),
      current: r.body.current_deployment_id,
      candidate: r.body.in_progress_promotion?.to_deployment_id ?? null,
    });
  }

  /** Reads every deployment of every model, and the replicas of those that have any. */
  async collect(): Promise<void> {
    for (const { name: model } of this.world.models) {
      const r = await this.world.replicaApi<{ deployments: DeploymentJson[] }>(
        'GET',
        `/v1/models/${model}/deployments`,
      );
      if (r.status !== 200) continue;
      for (const d of r.body.deployments) {
        this.remember(model, d);
        if (
          d.active_replica_count + d.starting_replica_count === 0 &&
          ['SCALED_TO_ZERO', 'INACTIVE'].includes(d.status)
        )
          continue;
        const atMs = Date.now();
        const replicas = await this.world.replicaApi<{ replicas: ReplicaJson[] }>(
          'GET',
          `/v1/models/${model}/deployments/${d.id}/replicas`,
        );
        if (replicas.status !== 200) continue;
        this.noteReplicas(model, d.id, atMs, replicas.body.replicas);
      }
    }
  }

  noteReplicas(model: string, deploymentId: string, atMs: number, replicas: readonly ReplicaJson[]): void {
    for (const rep of replicas) {
      if (rep.pid) this.replicaPids.add(rep.pid);
      const port = rep.address ? Number(rep.address.split(':').at(-1)) : NaN;
      if (Number.isInteger(port) && port > 0) this.replicaPorts.add(port);
    }
    this.replicaSamples.push({
      atMs,
      model,
      deploymentId,
      readyIds: replicas.filter((x) => x.status === 'READY').map((x) => x.id),
    });
  }

  remember(model: string, d: DeploymentJson): void {
    this.deployments.set(d.id, {
      model,
      id: d.id,
      name: d.name,
      status: d.status,
      statusReason: d.status_reason,
      ready: d.active_replica_count,
      starting: d.starting_replica_count,
      instanceType: d.instance_type_name,
      isDevelopment: d.is_development,
    });
    const version = /^v(\d+)$/.exec(d.name);
    if (version) this.versions.set(`${model}:${version[1]}`, d.id);
  }

  private sampleRss(): void {
    for (const p of this.world.processes()) {
      const inc = p.current;
      if (!inc || !p.alive()) continue;
      const rssBytes = rssOf(inc.pid);
      if (rssBytes !== null)
        this.rss.push({ process: p.role, incarnation: inc.number, atMs: Date.now(), rssBytes });
    }
  }
}

// The composition root of `plinth up`: wires store, bundles, builder, runtime, reconciler, gateway
// and API into one process. Nothing here decides anything; it only connects the rooms.
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { buildApi } from './api/app.ts';
import { Autoscaler } from './autoscaler/driver.ts';
import { Authenticator, inferenceAuthorizer } from './api/auth.ts';
import { makeUrlBuilder } from './api/serialize.ts';
import { BuildController } from './builder/build-controller.ts';
import { ArtifactStore } from './bundle/artifact-store.ts';
import { readCredentials, writeCredentials } from './credentials.ts';
import { Gateway } from './gateway/gateway.ts';
import { plinthHome } from './home.ts';
import { levelOfLine, LogSink } from './observability/log-sink.ts';
import { Telemetry } from './observability/telemetry.ts';
import { DevelopmentController } from './reconciler/development.ts';
import { Lifecycle } from './reconciler/lifecycle.ts';
import { PromotionController } from './reconciler/promotion-controller.ts';
import { Reconciler } from './reconciler/reconciler.ts';
import { LocalBackend } from './runtime/local/local-backend.ts';
import { openStore, storeKind } from './store/open.ts';
import { StatusRecorder } from './store/status-recorder.ts';
import { SecretBox } from './secrets/secret-box.ts';
import { Vault } from './secrets/vault.ts';
import { readInstanceTypesFile } from './config/instance-types-file.ts';
import { BUILT_IN_INSTANCE_TYPES, mergeCatalog } from './domain/instance-types.ts';
import { formatMemory } from './domain/quantity.ts';
import type { Capacity, ReplicaHandle, RuntimeBackend } from './runtime/backend.ts';
import { joinCluster, kubernetesBackend } from './kubernetes-runtime.ts';
import type { KubernetesRuntimeOptions } from './kubernetes-runtime.ts';
import type { DeploymentStatus } from './domain/deployment-status.ts';
import { ConcurrencyReports } from './gateway/concurrency-reports.ts';
import { RouteFeed } from './gateway/route-feed.ts';
import { ChangeFeed } from './store/postgres/change-feed.ts';
import { LeaderLock } from './store/postgres/leader-lock.ts';
import { applyCapacityOverride, detectCapacity } from './runtime/local/capacity.ts';

export interface ServerOptions {
  homeDir: string;
  port: number;
  host: string;
  /** Seconds a request may wait for a replica before 504. */
  parkTimeoutS?: number;
  /** Requests that may wait per deployment before 429. */
  maxQueue?: number;
  /** Pre-started Node model servers (cold starts pay only for the model's load()). */
  nodeStandbys?: number;
  /** Control-loop interval. */
  tickMs?: number;
  /** Seconds a client may take to send a request's headers (default 30) and whole request (default 300). */
  headersTimeoutS?: number;
  requestTimeoutS?: number;
  /** Failed authentications a client may make in a minute before its answers slow down (default 20). */
  authFailuresPerMinute?: number;
  /** Largest inference request body in bytes (default 100 MiB). */
  maxInferenceBodyBytes?: number;
  /** `--capacity cpu=8,memory=32Gi,gpu=H100:2`: what replicas are placed on instead of what was detected. */
  capacity?: string;
  /** A postgres:// URL for a shared PostgreSQL store; SQLite in the home when absent. */
  store?: string;
  /** Seconds replicas keep serving after this server dies, for a restart to adopt them (default 60). */
  replicaGraceS?: number;
  /** Run replicas as pods on a Kubernetes cluster instead of processes on this machine. */
  kubernetes?: KubernetesRuntimeOptions;
}

export interface RunningServer {
  url: string;
  /** The admin key, when this start created it (first start); otherwise null. */
  createdApiKey: string | null;
  credentialsFile: string;
  /** What replicas are placed on and how instance types are enforced, for the start-up lines. */
  resources: string[];
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const home = plinthHome(options.homeDir);
  for (const dir of [home.root, home.bundles, home.environments, home.deployments])
    mkdirSync(dir, { recursive: true });
  const instanceTypes = mergeCatalog(BUILT_IN_INSTANCE_TYPES, readInstanceTypesFile(home.instanceTypesFile));
  const detected = await detectCapacity();
  const capacity = options.capacity ? applyCapacityOverride(detected, options.capacity) : detected;
  const store = await openStore(options.store, home.database);
  const vault = new Vault(store, SecretBox.open(home.secretKeyFile));
  await vault.load();
  const mask = (text: string): string => vault.mask(text);
  const artifacts = new ArtifactStore(home.bundles);
  const logs = new LogSink(store);
  logs.mask = mask;
  const status = new StatusRecorder(store);
  status.mask = mask;
  const inFlightOf = (d: string, r: string): number => gateway.inFlightOf(d, r);
  const kubernetes = options.kubernetes
    ? kubernetesBackend(options.kubernetes, inFlightOf, (replica, line, requestId) =>
        logs.write(
          { model_id: replica.modelId, deployment_id: replica.deploymentId, replica_id: replica.replicaId },
          'replica',
          levelOfLine('stdout', line),
          line,
          requestId,
        ),
      )
    : null;
  const backend: RuntimeBackend =
    kubernetes ??
    new LocalBackend({
      runDir: home.replicaRun,
      graceS: options.replicaGraceS,
      capacity,
      nodeStandbys: options.nodeStandbys ?? 1,
      // The gateway exists only further down; a stop asks it once a replica is draining.
      inFlightOf,
      pythonStandbys: 1,
      onLog: (spec, stream, line, requestId) =>
        logs.write(
          { model_id: spec.modelId, deployment_id: spec.deploymentId, replica_id: spec.replicaId },
          'replica',
          levelOfLine(stream, line),
          line,
          requestId,
        ),
    });
  // The gateway wakes deployments at zero through the lifecycle, which exists only further down.
  let wake: (deploymentId: string) => void = () => {};
  let queued: (deploymentId: string) => void = () => {};
  const gateway = new Gateway(store, {
    parkTimeoutMs: (options.parkTimeoutS ?? 600) * 1000,
    maxBodyBytes: options.maxInferenceBodyBytes ?? 100 * 1024 ** 2,
    maxQueue: options.maxQueue ?? 1000,
    wake: (id) => wake(id),
    queued: (id) => queued(id),
    authorize: (authorization, client, model) => authorize(authorization, client, model),
    observe: (m) => telemetry.metrics.request(m),
    coldStart: (model, d, environment) => telemetry.metrics.coldStart(model, d, environment),
  });
  // With a shared store, other processes' gateways serve the same deployments: scaling sees the sum.
  const shared = storeKind(options.store) === 'postgres' ? options.store! : null;
  const reports = shared ? new ConcurrencyReports(store, () => gateway.concurrencies(), 'plinth-up') : null;
  const concurrency = (id: string): number => gateway.concurrency(id) + (reports?.othersOn(id) ?? 0);
  const telemetry = new Telemetry({ store, backend, concurrency });
  const reconciler = new Reconciler({
    store,
    backend,
    home,
    status,
    logs,
    inFlightOf: (d, r) => gateway.inFlightOf(d, r),
    instanceTypes,
    secrets: (declared) => vault.resolve(declared),
  });
  const builds = new BuildController(store, home, status, logs, () => void reconciler.kick());
  // Only the leading control plane builds and reconciles (see `lead` below).
  let leading = false;
  const kick = (): void => {
    if (!leading) return;
    void builds.pass();
    void reconciler.kick();
  };
  const lifecycle = new Lifecycle({
    store,
    artifacts,
    home,
    backend,
    status,
    kick,
    resetFailures: (id) => reconciler.resetFailures(id),
    instanceTypes,
  });
  wake = (id) =>
    void store
      .getDeployment(id)
      .then((d) => d && lifecycle.wake(d))
      .catch((err: Error) => console.error(`wake ${id}: ${err.message}`));
  const development = new DevelopmentController({
    store,
    artifacts,
    home,
    backend,
    status,
    logs,
    instanceTypes,
    secrets: (declared) => vault.resolve(declared),
    mask,
    trial: (id) => reconciler.trial(id),
    adopt: (id) => reconciler.adopt(id),
  });
  const autoscaler = new Autoscaler({
    store,
    lifecycle,
    logs,
    keptAwake: (id) => development.isKeptAwake(id),
    concurrency,
    kick: () => void reconciler.kick(),
  });
  queued = (id) => autoscaler.onQueued(id);
  const promotions = new PromotionController({
    store,
    backend,
    lifecycle,
    onRoutingChange: () => gateway.resolver.invalidate(),
  });
  const auth = new Authenticator(store, options.authFailuresPerMinute);
  const authorize = inferenceAuthorizer(auth);

  status.onChange((d) => gateway.deploymentChanged(d));
  backend.watch((event) => {
    const id = event.replica.deploymentId;
    const ready = backend.list(id).filter((r) => r.phase === 'READY' && r.address);
    gateway.setReadyReplicas(
      id,
      ready.map((r) => ({ id: r.id, address: r.address! })),
    );
  });

  // The URL is known once listening; the API only needs it lazily.
  let baseUrl = `http://${options.host}:${options.port}`;
  const urls = makeUrlBuilder(() => baseUrl);
  const app = buildApi({
    store,
    artifacts,
    lifecycle,
    development,
    promotions,
    backend,
    gateway,
    auth,
    urls,
    instanceTypes,
    telemetry,
    vault,
    onStatusChange: (listener) => status.onChange(listener),
    reconcile: () => void reconciler.kick(),
    maxBundleBytes: 1024 ** 3,
    home,
  });
  // Idle keep-alive connections stay open longer than clients and load balancers expect to reuse them.
  app.server.keepAliveTimeout = 65_000;
  // A slow client cannot hold a connection forever: its headers, then its whole request, have a deadline.
  app.server.headersTimeout = (options.headersTimeoutS ?? 30) * 1000;
  app.server.requestTimeout = Math.max(app.server.headersTimeout, (options.requestTimeoutS ?? 300) * 1000);
  await app.listen({ port: options.port, host: options.host });
  const address = app.server.address() as AddressInfo;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  baseUrl = `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${address.port}`;

  let createdApiKey: string | null = null;
  const existing = readCredentials(home.credentials);
  if ((await store.listApiKeys()).filter((k) => !k.revoked_at).length === 0 || !existing) {
    const { secret } = await auth.create('admin', 'admin');
    createdApiKey = secret;
    writeCredentials(home.credentials, { url: baseUrl, api_key: secret });
  } else if (existing.url !== baseUrl) {
    writeCredentials(home.credentials, { ...existing, url: baseUrl });
  }

  const tickMs = options.tickMs ?? 1000;
  let buildTimer: NodeJS.Timeout | undefined;
  let adopted: ReplicaHandle[] = [];
  // The control loops run in one process at a time: always this one on SQLite; on a shared
  // PostgreSQL store, the one holding the leader lock.
  const lead = async (): Promise<void> => {
    leading = true;
    routes?.stopRoutingReplicas();
    // Replicas a crashed server left running serve on; the reconciler then counts them as live.
    if (kubernetes) await joinCluster(kubernetes, auth);
    adopted = await backend.adopt();
    await development.recover();
    await reconciler.start(tickMs);
    await promotions.recover();
    promotions.start(Math.min(250, tickMs));
    autoscaler.start(tickMs);
    telemetry.start();
    void telemetry.pruneLogs();
    buildTimer = setInterval(() => void builds.pass(), tickMs);
    void builds.pass();
  };
  const changes = shared ? new ChangeFeed(shared) : null;
  const routes = shared
    ? new RouteFeed(store, gateway, {
        replicas: true,
        onDeployment: (d, from) => status.announce(d, from as DeploymentStatus),
        onKeys: (revoked) => (revoked ? auth.forgetCached() : auth.expireCached()),
      })
    : null;
  const leader = shared ? new LeaderLock(shared) : null;
  let leadership: string;
  if (!leader) {
    await lead();
    leadership = 'Control plane: this process (SQLite store)';
  } else {
    await changes!.start();
    changes!.on((topic) => {
      // Another process changed what should run (a push, a wake, a setting): act on it now.
      if (leading && (topic === 'deployments' || topic === '*')) kick();
    });
    await routes!.start((listener) => changes!.on(listener));
    reports!.start();
    const leadNow = async (): Promise<void> => {
      await lead();
      console.log('Leading the control plane now (reconciler, autoscaler, builder, promotions)');
    };
    const onLost = (reason: string): void => {
      console.error(`Lost the control-plane lock (${reason}); stopping so that another control plane leads`);
      process.exit(1);
    };
    const first = await leader.tryAcquire(onLost);
    if (first) await leadNow();
    else void leader.acquire(onLost).then(leadNow, () => undefined);
    leadership = first
      ? 'Control plane: leading (PostgreSQL store; others on it follow)'
      : 'Control plane: following — another process leads; this one serves the API and gateway and takes over when it stops';
  }

  let closed: Promise<void> | undefined;
  return {
    url: baseUrl,
    createdApiKey,
    credentialsFile: home.credentials,
    resources: [
      ...describeResources(kubernetes ? backend.capacity() : capacity, backend.describe()),
      leadership,
      ...(adopted.length ? [`Adopted ${adopted.length} replica(s) left running by the previous server`] : []),
    ],
    close() {
      closed ??= (async () => {
        clearInterval(buildTimer);
        routes?.stop();
        reports?.stop();
        await changes?.close();
        await leader?.close();
        await telemetry.stop();
        await promotions.stop();
        await autoscaler.stop();
        await reconciler.stop();
        await backend.close();
        await app.close();
        await gateway.close();
        await logs.flush();
        await store.close();
      })();
      return closed;
    },
  };
}

function describeResources(capacity: Capacity, enforcement: string): string[] {
  const kinds = new Map<string, number>();
  for (const g of capacity.gpus) kinds.set(g.kind, (kinds.get(g.kind) ?? 0) + 1);
  const gpus = kinds.size ? [...kinds].map(([k, n]) => `${n}× ${k}`).join(', ') : 'no GPUs';
  return [
    `Capacity: ${capacity.cpu} CPUs (shared), ${formatMemory(capacity.memoryBytes)} memory, ${gpus}`,
    `Enforced: ${enforcement}`,
  ];
}

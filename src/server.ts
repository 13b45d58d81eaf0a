// The composition root of `plinth up`: builds the rooms in the order they depend on each other,
// then wires what one room tells others (signals, listeners) once they all exist. Nothing here
// decides anything; it only connects the rooms.
import { mkdirSync } from 'node:fs';
import { buildApi } from './api/app.ts';
import { Authenticator, inferenceAuthorizer } from './api/auth.ts';
import { makeUrlBuilder } from './api/serialize.ts';
import { Autoscaler } from './autoscaler/driver.ts';
import { BuildController } from './builder/build-controller.ts';
import { preparePythonBaseInBackground, stopPythonBasePreparations } from './builder/python-base.ts';
import { defaultPythonInterpreter } from './builder/python-interpreters.ts';
import { ArtifactStore } from './bundle/artifact-store.ts';
import { readInstanceTypesFile } from './config/instance-types-file.ts';
import type { ServerConfig } from './config/server-config.ts';
import { readCredentials, writeCredentials } from './credentials.ts';
import { BUILT_IN_INSTANCE_TYPES, mergeCatalog } from './domain/instance-types.ts';
import { LoopHealth } from './domain/control-loop.ts';
import { formatMemory } from './domain/quantity.ts';
import { ConcurrencyReports } from './gateway/concurrency-reports.ts';
import { ROUTES_SETTLE_MS } from './gateway/route-feed.ts';
import { Gateway } from './gateway/gateway.ts';
import { TrafficTimes } from './gateway/traffic-times.ts';
import { plinthHome } from './home.ts';
import type { PlinthHome } from './home.ts';
import { applyDeadlines, listeningUrl } from './http-listen.ts';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { joinCluster, kubernetesBackend } from './kubernetes-runtime.ts';
import { followLeader } from './leadership.ts';
import { levelOfLine, LogSink } from './observability/log-sink.ts';
import { Telemetry } from './observability/telemetry.ts';
import { DevelopmentController } from './reconciler/development.ts';
import { IdleDeactivator } from './reconciler/idle-deactivator.ts';
import { idleReason } from './reconciler/idle-policy.ts';
import { Lifecycle } from './reconciler/lifecycle.ts';
import { PromotionController } from './reconciler/promotion-controller.ts';
import { tellReplicasEnvironment } from './reconciler/environment-notice.ts';
import { Reconciler } from './reconciler/reconciler.ts';
import { ReplicaStopper } from './reconciler/replica-stopper.ts';
import { ReplicaTermination } from './reconciler/replica-termination.ts';
import type { Capacity, ReplicaHandle, RuntimeBackend } from './runtime/backend.ts';
import { applyCapacityOverride, detectCapacity } from './runtime/local/capacity.ts';
import { LocalBackend } from './runtime/local/local-backend.ts';
import { SecretBox } from './secrets/secret-box.ts';
import { Vault } from './secrets/vault.ts';
import { openStore } from './store/open.ts';
import { StatusRecorder } from './store/status-recorder.ts';
import { AsyncMetrics } from './observability/async-metrics.ts';
import { AsyncFront } from './queue/async-front.ts';
import { AsyncWorker } from './queue/async-worker.ts';
import { WebhookSecrets } from './queue/webhook-secrets.ts';
import { WebhookSender } from './queue/webhook-sender.ts';
import type { Store } from './store/store.ts';
import { WeightsCache } from './weights/cache.ts';
import { startUpWorkers } from './workers/up-workers.ts';
import type { UpWorkers } from './workers/up-workers.ts';
import { WeightsFetcher } from './weights/fetcher.ts';
import { DEFAULT_HF_ENDPOINT } from './weights/hub.ts';

export interface RunningServer {
  url: string;
  /** The admin key, when this start created it (first start); otherwise null. */
  createdApiKey: string | null;
  credentialsFile: string;
  /** What replicas are placed on and how instance types are enforced, for the start-up lines. */
  resources: string[];
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const home = plinthHome(config.homeDir);
  for (const dir of [home.root, home.bundles, home.environments, home.deployments])
    mkdirSync(dir, { recursive: true });
  const instanceTypes = mergeCatalog(BUILT_IN_INSTANCE_TYPES, readInstanceTypesFile(home.instanceTypesFile));
  const detected = await detectCapacity();
  const capacity = config.capacity ? applyCapacityOverride(detected, config.capacity) : detected;

  // State, and what every room writes to. The control loops count their failures in `health`.
  const health = new LoopHealth();
  const store = await openStore(config.store, home.database);
  const vault = new Vault(store, SecretBox.open(home.secretKeyFile));
  await vault.load();
  const mask = (text: string): string => vault.mask(text);
  const artifacts = new ArtifactStore(home.bundles);
  const logs = new LogSink(store);
  logs.mask = mask;
  const status = new StatusRecorder(store);
  status.mask = mask;
  const auth = new Authenticator(store, config.authFailuresPerMinute);

  // Where replicas run, and the gateway in front of them.
  const kubernetes = config.kubernetes
    ? kubernetesBackend(config.kubernetes, (replica, line, requestId) =>
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
      graceS: config.replicaGraceS,
      capacity,
      nodeStandbys: config.nodeStandbys,
      pythonStandbys: config.pythonStandbys,
      onLog: (spec, stream, line, requestId) =>
        logs.write(
          { model_id: spec.modelId, deployment_id: spec.deploymentId, replica_id: spec.replicaId },
          'replica',
          levelOfLine(stream, line),
          line,
          requestId,
        ),
    });
  const publicHost = config.kubernetes ? new URL(config.kubernetes.publicUrl).hostname : null;
  // Async requests: accepted on the inference URLs, run by the leader's workers through the gateway.
  const internalToken = randomBytes(24).toString('base64url');
  const webhookSecrets = new WebhookSecrets(store, SecretBox.open(home.secretKeyFile));
  let asyncWorker: AsyncWorker | null = null;
  const asyncFront = new AsyncFront({
    store,
    maxInputBytes: config.asyncMaxInputBytes,
    allowPrivateWebhooks: config.allowPrivateWebhooks,
    onQueued: () => asyncWorker?.kick(),
    hasSigningSecret: async () => (await webhookSecrets.signing()).length > 0,
  });
  const hostSuffixes = publicHost ? [...config.hostSuffixes, publicHost] : config.hostSuffixes;
  const gateway = new Gateway(store, {
    asyncRoutes: asyncFront,
    internalToken,
    parkTimeoutMs: config.parkTimeoutS * 1000,
    maxBodyBytes: config.maxInferenceBodyBytes,
    maxQueue: config.maxQueue,
    stallTimeoutMs: config.stallTimeoutS * 1000,
    hostSuffixes,
    authorize: inferenceAuthorizer(auth),
  });
  // With a shared store, other processes' gateways serve the same deployments: scaling sees the sum.
  const reports = config.store
    ? new ConcurrencyReports(store, () => gateway.concurrencies(), 'plinth-up', health)
    : null;
  // Async requests waiting in the store count too: a queue with nothing running scales from zero.
  let asyncQueued: ReadonlyMap<string, number> = new Map();
  const concurrency = (id: string): number =>
    gateway.concurrency(id) + (reports?.othersOn(id) ?? 0) + (asyncQueued.get(id) ?? 0);
  const telemetry = new Telemetry({ store, backend, concurrency, health });
  // When each deployment last answered a request (kept in the store for the inactivity check).
  const traffic = new TrafficTimes(store, Date.now, health);

  // The control loops.
  const stopper = new ReplicaStopper({
    backend,
    drainer: gateway,
    drainMs: config.drainS * 1000,
    // Other gateways read routes from a shared store: a stopping replica waits for them to see it.
    routesSettleMs: config.store ? ROUTES_SETTLE_MS : 0,
  });
  const secrets = (declared: Record<string, string | null>) => vault.resolve(declared);
  const inFlightOf = (d: string, r: string): number => gateway.inFlightOf(d, r);
  const reconciler = new Reconciler({
    store,
    backend,
    home,
    status,
    logs,
    stopper,
    inFlightOf,
    instanceTypes,
    secrets,
    health,
  });
  const onBuilt = (): void => void reconciler.kick();
  // Weights and data, downloaded at build into one cache; the hub is HF_ENDPOINT.
  const weights = new WeightsFetcher({
    cache: new WeightsCache(home.weightsCache),
    hfEndpoint: process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT,
    secret: (name) => vault.resolve({ [name]: null }).values[name],
    localRoots: (process.env.PLINTH_WEIGHTS_LOCAL_DIRS ?? '').split(':').filter(Boolean),
  });
  const builds = new BuildController({ store, home, status, logs, health, onBuilt, weights });
  // Only the leading control plane builds and reconciles (see `lead` below).
  let leading = false;
  const kick = (): void => {
    if (!leading) return;
    builds.kick();
    void reconciler.kick();
  };
  const resetFailures = (id: string): void => reconciler.resetFailures(id);
  const lifecycle = new Lifecycle({
    store,
    artifacts,
    home,
    stopper,
    status,
    kick,
    resetFailures,
    instanceTypes,
  });
  const isLeading = (): boolean => leading;
  const development = new DevelopmentController({
    store,
    artifacts,
    home,
    backend,
    status,
    logs,
    mask,
    reconciler,
    weights,
    isLeading,
  });
  const keptAwake = (id: string): boolean => development.isKeptAwake(id);
  const autoscaler = new Autoscaler({ store, lifecycle, logs, keptAwake, concurrency, kick, health });
  const onRoutingChange = (): void => gateway.resolver.invalidate();
  const replicas = new ReplicaTermination({ store, backend, stopper, logs, kick });
  const promotions = new PromotionController({ store, backend, lifecycle, onRoutingChange, health });
  const idleS = config.deactivateAfterIdleS;
  const recentRequest = (id: string): number | undefined => traffic.lastOf(id);
  const inactivity = idleS
    ? new IdleDeactivator({ store, lifecycle, logs, idleS, recentRequest, concurrency, keptAwake, health })
    : null;

  // What one room tells the others.
  gateway.requests.add((m) => telemetry.metrics.request(m));
  gateway.requests.add((m) => traffic.note(m.deployment.id));
  gateway.coldStarts.add((c) => telemetry.metrics.coldStart(c.model, c.deployment, c.environment));
  gateway.queued.add((id) => autoscaler.onQueued(id));
  gateway.wakes.add((id) => void wakeById(store, lifecycle, id));
  status.onChange((d) => gateway.deploymentChanged(d));
  promotions.switched.add((change) => void tellReplicasEnvironment(store, backend, logs, change));
  lifecycle.deleted.add(({ deploymentId, modelId, wholeModel }) => {
    gateway.forget(deploymentId);
    traffic.forget(deploymentId);
    development.forget(deploymentId);
    if (wholeModel) gateway.forgetModel(modelId);
  });
  backend.watch((event) => {
    const id = event.replica.deploymentId;
    const ready = backend.list(id).filter((r) => r.phase === 'READY' && r.address);
    gateway.setReadyReplicas(
      id,
      ready.map((r) => ({ id: r.id, address: r.address!, token: r.token ?? null })),
    );
  });

  // The API and the gateway on one port; the URL is known once listening. With --gateway-workers N,
  // N−1 more processes serve it as gateways (src/workers/) and pass the rest to this one.
  let baseUrl = `http://${config.host}:${config.port}`;
  let workers: UpWorkers | null = null;
  const app = buildApi({
    store,
    artifacts,
    lifecycle,
    development,
    promotions,
    replicas,
    backend,
    gateway,
    auth,
    urls: makeUrlBuilder(() => baseUrl),
    instanceTypes,
    telemetry,
    vault,
    webhookSecrets,
    onStatusChange: (listener) => status.onChange(listener),
    reconcile: () => void reconciler.kick(),
    maxBundleBytes: 1024 ** 3,
    home,
    metricsAuth: config.metricsAuth,
    workerMetrics:
      config.gatewayWorkers > 1 ? async () => (await workers?.pool.workerMetrics()) ?? [] : undefined,
  });
  applyDeadlines(app.server, config);
  await app.listen({ port: config.port, host: config.host });
  baseUrl = listeningUrl(app.server, config.host);
  if (config.gatewayWorkers > 1)
    workers = await startUpWorkers({
      server: app.server,
      config,
      port: (app.server.address() as AddressInfo).port,
      hostSuffixes,
      internalToken,
      ownMetrics: () => telemetry.metrics.registry.getMetricsAsJSON(),
    });
  const createdApiKey = await provideAdminKey(store, auth, home, baseUrl);
  traffic.start();
  const asyncMetrics = new AsyncMetrics(telemetry.metrics.registry);
  const webhooks = new WebhookSender({
    store,
    signingSecrets: () => webhookSecrets.signing(),
    allowPrivate: config.allowPrivateWebhooks,
    isLeading: () => leading,
    onOutcome: (outcome) => asyncMetrics.webhook(outcome),
    health,
  });
  asyncWorker = new AsyncWorker({
    store,
    gatewayUrl: () => baseUrl,
    internalToken,
    capacityOf: (id) => gateway.readyCapacity(id),
    isLeading: () => leading,
    retentionMs: config.asyncRetentionS * 1000,
    onQueueSizes: (queued) => {
      asyncQueued = queued;
      asyncMetrics.queueSizes(queued);
    },
    onStarted: (_request, waitedS) => asyncMetrics.started(waitedS),
    onSettled: () => webhooks.kick(),
    health,
  });

  let adopted: ReplicaHandle[] = [];
  // The control loops run in one process at a time: always this one on SQLite; on a shared
  // PostgreSQL store, the one holding the leader lock.
  const lead = async (): Promise<void> => {
    leading = true;
    // Replicas a crashed server left running serve on; the reconciler then counts them as live.
    if (kubernetes) await joinCluster(kubernetes, auth);
    adopted = await backend.adopt();
    await development.recover();
    await reconciler.start(config.tickMs);
    await promotions.recover();
    promotions.start(Math.min(250, config.tickMs));
    autoscaler.start(config.tickMs);
    telemetry.start();
    builds.start(config.tickMs);
    asyncWorker!.start();
    webhooks.start();
    inactivity?.start();
    // Truss's base environment, so that the first push of a Python model usually finds it ready.
    preparePythonBaseInBackground(home.pythonBase, defaultPythonInterpreter());
  };
  const follower = config.store
    ? await followLeader({ url: config.store, store, gateway, status, auth, reports: reports!, lead, kick })
    : null;
  if (!follower) await lead();

  let closed: Promise<void> | undefined;
  return {
    url: baseUrl,
    createdApiKey,
    credentialsFile: home.credentials,
    resources: [
      ...describeResources(kubernetes ? backend.capacity() : capacity, backend.describe()),
      follower?.description ?? 'Control plane: this process (SQLite store)',
      ...(workers
        ? [
            `Gateway workers: ${config.gatewayWorkers} processes serve ${baseUrl} (this one and ${config.gatewayWorkers - 1} more, each a gateway on the store; the API answers from this one)`,
          ]
        : []),
      ...(idleS ? [`Inactivity: deployments are deactivated after ${idleReason(idleS)}`] : []),
      ...(adopted.length ? [`Adopted ${adopted.length} replica(s) left running by the previous server`] : []),
    ],
    close() {
      closed ??= (async () => {
        // The workers first: their requests finish while the API and the replicas still answer.
        await workers?.close();
        await asyncWorker?.stop();
        await webhooks.stop();
        await builds.stop();
        await stopPythonBasePreparations();
        await follower?.close();
        await inactivity?.stop();
        await traffic.stop();
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

/** A deployment at zero gets a replica back (a request arrived for it). */
async function wakeById(store: Store, lifecycle: Lifecycle, id: string): Promise<void> {
  try {
    const d = await store.getDeployment(id);
    if (d) await lifecycle.wake(d);
  } catch (err) {
    console.error(`wake ${id}: ${(err as Error).message}`);
  }
}

/** The admin key: created (and saved for the CLI) on the first start; its file follows the URL. */
async function provideAdminKey(
  store: Store,
  auth: Authenticator,
  home: PlinthHome,
  url: string,
): Promise<string | null> {
  const existing = readCredentials(home.credentials);
  if ((await store.listApiKeys()).filter((k) => !k.revoked_at).length === 0 || !existing) {
    const { secret } = await auth.create('admin', 'admin');
    writeCredentials(home.credentials, { url, api_key: secret });
    return secret;
  }
  if (existing.url !== url) writeCredentials(home.credentials, { ...existing, url });
  return null;
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

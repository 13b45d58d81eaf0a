// What the kubernetes backend writes to the cluster for a model deployment: an apps/v1 Deployment
// (pods that fetch the build from the control plane in an init container, then run the model server,
// probed for readiness and liveness, with a preStop pause so every gateway sees a pod leave before it
// stops accepting) and a Secret with the model's environment variables and secret values. Pure.
import { customServerContainer, secretFiles, secretsVolume } from './custom-server-pod.ts';
import { baseImageOf, MODEL_SERVER_PATH, MODEL_SERVER_VOLUME, modelOnBaseImage } from './base-image-pod.ts';
import { createHash } from 'node:crypto';
import type { V1Container, V1Deployment, V1Probe, V1Secret } from '@kubernetes/client-node';
import { healthThresholdsOf } from '../../domain/custom-server.ts';
import type { HealthThresholds } from '../../domain/custom-server.ts';
import { MODEL_READY_PATH } from '../readiness.ts';
import type { ReplicaSpec } from '../backend.ts';

export const MANAGED_BY = 'plinth';
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  deployment: 'plinth.dev/deployment',
  model: 'plinth.dev/model',
  instanceType: 'plinth.dev/instance-type',
  /** The deployment revision a pod runs (a new control plane reads it back when it adopts the pod). */
  revision: 'plinth.dev/revision',
  group: 'plinth.dev/group',
} as const;
/** The annotation that binds a pod to the replica id the platform knows it by. */
export const REPLICA_ANNOTATION = 'plinth.dev/replica-id';
export const DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
export const MODEL_CONTAINER = 'model';
export const FETCH_CONTAINER = 'fetch';
/** Where the init container puts the build, in both containers. */
export const APP_PATH = '/plinth/app';
/** Where the shared weights cache volume is mounted (the init container writes it; the model reads it). */
export const WEIGHTS_CACHE_PATH = '/plinth/weights-cache';
/** The PersistentVolumeClaim holding the weights cache, unless the settings name another. */
export const DEFAULT_WEIGHTS_CACHE_CLAIM = 'plinth-weights-cache';

export interface ManifestOptions {
  namespace: string;
  /** Images: the model servers per language, and the one whose `plinth fetch-artifacts` fetches the build. */
  images: { node: string; python: string; fetcher: string };
  /**
   * The control plane's artifact URLs for this replica's build, its prepared environment and the
   * base environment layered under that (Truss's server packages).
   */
  artifacts: {
    app: string;
    environment: string | null;
    baseEnvironment?: string | null;
    /** The control plane's /v1/weights URL, for a build with weights and data (null: none). */
    weights?: string | null;
  };
  /** The PersistentVolumeClaim (ReadWriteMany) that pods share as their weights cache. */
  weightsCacheClaim?: string;
  /** The Secret and key holding the API key the init container fetches with. */
  apiKeySecret: { name: string; key: string };
  /** The port the model server listens on in its pod. */
  port: number;
  /** Seconds the preStop hook waits before the model server is told to stop. */
  preStopSeconds: number;
  /** Seconds a stopping model server has to finish its requests. */
  drainSeconds: number;
  /** The node label that names a node's GPU kind (its value is the instance type's accelerator). */
  gpuNodeLabel: string;
}

/** A DNS-1123 label (at most 63 characters) made of `parts`, with a hash when shortened. */
function dnsLabel(...parts: string[]): string {
  const raw = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (raw.length <= 50) return raw;
  const hash = createHash('sha256').update(parts.join('/')).digest('hex').slice(0, 8);
  return `${raw.slice(0, 50).replace(/-+$/, '')}-${hash}`;
}

export function envSecretName(spec: Pick<ReplicaSpec, 'deploymentId'>): string {
  return dnsLabel('plinth', spec.deploymentId, 'env');
}

function labelValue(value: string): string {
  const v = value.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return v.length <= 63 ? v : v.slice(0, 63).replace(/[^A-Za-z0-9]+$/, '');
}

function podLabels(spec: ReplicaSpec): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.name]: 'plinth-replica',
    [LABELS.deployment]: labelValue(spec.deploymentId),
    [LABELS.model]: labelValue(spec.modelId),
    [LABELS.instanceType]: labelValue(spec.resources.instanceType),
    [LABELS.revision]: String(spec.revision),
  };
}

/** The Secret whose keys are a custom server's secret files (/secrets/NAME). */
export function secretFilesName(spec: Pick<ReplicaSpec, 'deploymentId'>): string {
  return dnsLabel('plinth', spec.deploymentId, 'secrets');
}

export function secretFilesSecret(spec: ReplicaSpec, options: Pick<ManifestOptions, 'namespace'>): V1Secret {
  return secretFiles(spec, {
    name: secretFilesName(spec),
    namespace: options.namespace,
    labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.deployment]: labelValue(spec.deploymentId) },
  });
}

export function envSecret(spec: ReplicaSpec, options: Pick<ManifestOptions, 'namespace'>): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: envSecretName(spec),
      namespace: options.namespace,
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.deployment]: labelValue(spec.deploymentId) },
    },
    type: 'Opaque',
    data: Object.fromEntries(
      Object.entries(spec.env).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
    ),
  };
}

/** The unprivileged user of Plinth's images (deploy/images/Dockerfile). */
const REPLICA_UID = 10001;

const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

export function deploymentManifest(
  spec: ReplicaSpec,
  options: ManifestOptions,
  replicas: number,
): V1Deployment {
  const labels = podLabels(spec);
  const gpu = spec.resources.accelerator;
  // The base environment goes where it was built too: the environment's .pth file names it there.
  const base = spec.envDir && spec.baseEnvDir && options.artifacts.baseEnvironment ? spec.baseEnvDir : null;
  const weights = options.artifacts.weights ?? null;
  const baseImage = baseImageOf(spec);
  const mounts = [
    { name: 'app', mountPath: APP_PATH },
    ...(spec.envDir ? [{ name: 'environment', mountPath: spec.envDir }] : []),
    ...(base ? [{ name: 'python-base', mountPath: base }] : []),
  ];
  // The init container fills the cache volume; the model server reads it (the app links into it).
  const cacheMount = (readOnly: boolean) =>
    weights ? [{ name: 'weights-cache', mountPath: WEIGHTS_CACHE_PATH, readOnly }] : [];
  const fetch: V1Container = {
    name: FETCH_CONTAINER,
    image: options.images.fetcher,
    command: [
      'plinth',
      'fetch-artifacts',
      '--app',
      options.artifacts.app,
      '--into',
      APP_PATH,
      // The prepared environment goes where it was built, so that its absolute paths hold.
      ...(spec.envDir && options.artifacts.environment
        ? ['--environment', options.artifacts.environment, '--environment-into', spec.envDir]
        : []),
      ...(base
        ? ['--base-environment', options.artifacts.baseEnvironment!, '--base-environment-into', base]
        : []),
      ...(weights ? ['--weights', weights, '--weights-cache', WEIGHTS_CACHE_PATH] : []),
      ...(baseImage ? ['--model-server-into', MODEL_SERVER_PATH] : []),
    ],
    env: [
      {
        name: 'PLINTH_API_KEY',
        valueFrom: { secretKeyRef: { name: options.apiKeySecret.name, key: options.apiKeySecret.key } },
      },
    ],
    volumeMounts: [
      ...mounts,
      ...cacheMount(false),
      ...(baseImage ? [{ name: MODEL_SERVER_VOLUME, mountPath: MODEL_SERVER_PATH }] : []),
    ],
    securityContext: CONTAINER_SECURITY,
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const modelServer: V1Container = {
    name: MODEL_CONTAINER,
    image: spec.language === 'python' ? options.images.python : options.images.node,
    command: [spec.language === 'python' ? 'plinth-replica-python' : 'plinth-replica-node'],
    workingDir: APP_PATH,
    ports: [{ name: 'http', containerPort: options.port }],
    env: [
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'PLINTH_LISTEN', value: `$(POD_IP):${options.port}` },
      { name: 'PLINTH_APP_DIR', value: APP_PATH },
      { name: 'PLINTH_MODEL_FILE', value: spec.modelFile },
      { name: 'PLINTH_CONFIG_JSON', value: JSON.stringify(spec.config) },
      ...(spec.envDir ? [{ name: 'PLINTH_ENV_DIR', value: spec.envDir }] : []),
    ],
    envFrom: [{ secretRef: { name: envSecretName(spec) } }],
    volumeMounts: [...mounts, ...cacheMount(true)],
    securityContext: CONTAINER_SECURITY,
    resources: {
      requests: { cpu: `${spec.resources.cpuMillis}m`, memory: String(spec.resources.memoryBytes) },
      limits: {
        memory: String(spec.resources.memoryBytes),
        ...(gpu ? { 'nvidia.com/gpu': String(gpu.count) } : {}),
      },
    },
    ...modelServerProbes(healthThresholdsOf(spec.config)),
    lifecycle: { preStop: { exec: { command: ['sleep', String(options.preStopSeconds)] } } },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  // A custom server runs its own command in the same pod, on its own port and probes.
  // A model class with a base_image runs on that image (Plinth's model server copied in).
  const model = spec.server
    ? customServerContainer(modelServer, spec, spec.server, options.images.python)
    : baseImage
      ? modelOnBaseImage(modelServer, baseImage)
      : modelServer;
  const template = {
    metadata: { labels },
    spec: {
      // A model reaches neither the cluster's API (no token) nor its services' addresses, and
      // runs as the images' unprivileged user.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: REPLICA_UID,
        runAsGroup: REPLICA_UID,
        fsGroup: REPLICA_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      terminationGracePeriodSeconds: options.preStopSeconds + options.drainSeconds,
      ...(gpu
        ? {
            nodeSelector: { [options.gpuNodeLabel]: labelValue(gpu.kind) },
            tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
          }
        : {}),
      volumes: [
        { name: 'app', emptyDir: {} },
        ...(spec.envDir ? [{ name: 'environment', emptyDir: {} }] : []),
        ...(base ? [{ name: 'python-base', emptyDir: {} }] : []),
        ...(baseImage ? [{ name: MODEL_SERVER_VOLUME, emptyDir: {} }] : []),
        ...(weights
          ? [
              {
                name: 'weights-cache',
                persistentVolumeClaim: {
                  claimName: options.weightsCacheClaim ?? DEFAULT_WEIGHTS_CACHE_CLAIM,
                },
              },
            ]
          : []),
        ...(spec.server ? [secretsVolume(secretFilesName(spec))] : []),
      ],
      initContainers: [fetch],
      containers: [model],
    },
  };
  const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
  const name = dnsLabel('plinth', spec.deploymentId, hash);
  const grouped = { ...labels, [LABELS.group]: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: options.namespace, labels: grouped },
    spec: {
      replicas,
      selector: { matchLabels: { [LABELS.group]: name } },
      template: { ...template, metadata: { labels: grouped } },
    },
  };
}

/** The name of the Deployment a replica spec's pods belong to. */
/**
 * A model server's probes: ready once load() is done (for up to `startup_threshold_seconds`), then
 * `is_healthy()` polled for the pod's life through the same route — out of routing after
 * `stop_traffic_threshold_seconds` of failing, restarted after `restart_threshold_seconds`.
 */
function modelServerProbes(
  health: HealthThresholds,
): Pick<V1Container, 'startupProbe' | 'readinessProbe' | 'livenessProbe'> {
  const probe = (periodSeconds: number, failureThreshold: number): V1Probe => ({
    httpGet: { path: MODEL_READY_PATH, port: 'http' },
    periodSeconds,
    failureThreshold,
  });
  return {
    startupProbe: probe(1, Math.max(1, health.startupS)),
    // As locally: is_healthy() has 2 s to answer.
    readinessProbe: { ...probe(1, Math.max(1, health.stopTrafficS)), timeoutSeconds: 2 },
    livenessProbe: {
      ...probe(10, Math.max(1, Math.ceil(health.restartS / 10))),
      initialDelaySeconds: health.checkDelayS,
      timeoutSeconds: 5,
    },
  };
}

export function groupName(spec: ReplicaSpec, options: ManifestOptions): string {
  return deploymentManifest(spec, options, 0).metadata!.name!;
}

// A custom server's pod (config `docker_server`): the model container runs `base_image.image` (else
// the Python runtime image) with the start command through `sh -c` in the fetched app, on
// `server_port` (also `$PORT`), the fetched environment's `bin` first on PATH, its secrets also as
// files at /secrets (as Truss servers read them), and Kubernetes probes on its own endpoints: a
// startup probe for as long as `startup_threshold_seconds`, readiness, and liveness that restarts
// it after `restart_threshold_seconds`.
import type { V1Container, V1Probe, V1Secret, V1Volume } from '@kubernetes/client-node';
import type { CustomServer } from '../../domain/custom-server.ts';
import type { ReplicaSpec } from '../backend.ts';

export const SECRETS_PATH = '/secrets';
const SECRETS_VOLUME = 'secrets';
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The deployment's secrets, one key each: mounted as files at /secrets. */
export function secretFiles(
  spec: ReplicaSpec,
  metadata: { name: string; namespace: string; labels: Record<string, string> },
): V1Secret {
  const secrets = JSON.parse(spec.env.PLINTH_SECRETS_JSON ?? '{}') as Record<string, string>;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata,
    type: 'Opaque',
    data: Object.fromEntries(
      Object.entries(secrets)
        .filter(([name]) => /^[-._a-zA-Z0-9]+$/.test(name))
        .map(([name, value]) => [name, Buffer.from(value, 'utf8').toString('base64')]),
    ),
  };
}

export function secretsVolume(secretName: string): V1Volume {
  return { name: SECRETS_VOLUME, secret: { secretName, defaultMode: 0o440 } };
}

function httpProbe(
  path: string,
  periodSeconds: number,
  failureThreshold: number,
  initialDelaySeconds = 0,
): V1Probe {
  return { httpGet: { path, port: 'http' }, periodSeconds, failureThreshold, initialDelaySeconds };
}

/** The model container of a custom server's pod, from the one a model server's pod would have. */
export function customServerContainer(
  base: V1Container,
  spec: ReplicaSpec,
  server: CustomServer,
  fallbackImage: string,
): V1Container {
  const image = (spec.config as { base_image?: { image?: string } }).base_image?.image ?? fallbackImage;
  const path = spec.envDir ? `${spec.envDir}/bin:${IMAGE_PATH}` : IMAGE_PATH;
  const { health } = server;
  return {
    ...base,
    image,
    command: ['sh', '-c', server.command],
    ports: [{ name: 'http', containerPort: server.port }],
    env: [
      ...(base.env ?? []).filter((e) => !['PLINTH_LISTEN', 'PLINTH_MODEL_FILE'].includes(e.name)),
      { name: 'PORT', value: String(server.port) },
      { name: 'PATH', value: path },
      { name: 'PLINTH_SECRETS_DIR', value: SECRETS_PATH },
      ...(spec.envDir ? [{ name: 'VIRTUAL_ENV', value: spec.envDir }] : []),
    ],
    volumeMounts: [
      ...(base.volumeMounts ?? []),
      { name: SECRETS_VOLUME, mountPath: SECRETS_PATH, readOnly: true },
    ],
    startupProbe: httpProbe(server.readinessPath, 5, Math.max(1, Math.ceil(health.startupS / 5))),
    // Out of routing after 3 s of failing, not on one slow answer under load.
    readinessProbe: { ...httpProbe(server.readinessPath, 1, 3), timeoutSeconds: 2 },
    livenessProbe: httpProbe(
      server.livenessPath,
      10,
      Math.max(1, Math.ceil(health.restartS / 10)),
      health.checkDelayS,
    ),
  };
}

// A custom server (Truss `docker_server`): the replica is the user's own server process — vLLM,
// SGLang, a FastAPI app — started by a shell command, rather than Plinth's model server. What the
// runtime needs to run one and the gateway to reach it, from the deployment's config. Pure.

export interface HealthThresholds {
  /** How long a starting server may take to answer its readiness endpoint before it has failed. */
  startupS: number;
  /** Seconds after ready before failing health can replace the replica (as Truss: restarts only). */
  checkDelayS: number;
  /** Failing liveness this long takes the replica out of routing. */
  stopTrafficS: number;
  /** Failing liveness this long replaces the replica. */
  restartS: number;
}

export interface CustomServer {
  /** `start_command`, run through `sh -c` in the app directory. */
  command: string;
  /** `server_port`: where the server listens when its command does not take `$PORT`. */
  port: number;
  /**
   * Whether the command takes its port from `$PORT` (`$PORT` or `${PORT…}` in it): then every
   * replica gets a port of its own; else all listen on `port`, and one machine runs only one.
   */
  perReplicaPort: boolean;
  predictPath: string;
  readinessPath: string;
  livenessPath: string;
  health: HealthThresholds;
}

/** Thresholds when config.yaml's `runtime.health_checks` leaves them out (weights can take long). */
export const DEFAULT_HEALTH: HealthThresholds = {
  startupS: 1800,
  checkDelayS: 0,
  stopTrafficS: 60,
  restartS: 300,
};

interface DockerServerConfig {
  start_command: string;
  server_port: number;
  predict_endpoint: string;
  readiness_endpoint: string;
  liveness_endpoint: string;
}

interface HealthChecksConfig {
  startup_threshold_seconds?: number;
  restart_check_delay_seconds?: number;
  stop_traffic_threshold_seconds?: number;
  restart_threshold_seconds?: number;
}

const PORT_VARIABLE = /\$(PORT\b|\{PORT[}:\-=?+])/;

/**
 * When a replica's health (a model's `is_healthy()`, a custom server's liveness endpoint) takes it
 * out of routing and replaces it: config.yaml's `runtime.health_checks`, else the defaults.
 */
export function healthThresholdsOf(config: Record<string, unknown>): HealthThresholds {
  const checks = ((config.runtime as { health_checks?: HealthChecksConfig } | undefined)?.health_checks ??
    {}) as HealthChecksConfig;
  return {
    startupS: checks.startup_threshold_seconds ?? DEFAULT_HEALTH.startupS,
    checkDelayS: checks.restart_check_delay_seconds ?? DEFAULT_HEALTH.checkDelayS,
    stopTrafficS: checks.stop_traffic_threshold_seconds ?? DEFAULT_HEALTH.stopTrafficS,
    restartS: checks.restart_threshold_seconds ?? DEFAULT_HEALTH.restartS,
  };
}

/** The custom server a deployment's config describes; null for a model class. */
export function customServerOf(config: Record<string, unknown>): CustomServer | null {
  const server = config.docker_server as DockerServerConfig | undefined;
  if (!server) return null;
  return {
    command: server.start_command,
    port: server.server_port,
    perReplicaPort: PORT_VARIABLE.test(server.start_command),
    predictPath: server.predict_endpoint,
    readinessPath: server.readiness_endpoint,
    livenessPath: server.liveness_endpoint,
    health: healthThresholdsOf(config),
  };
}

/** Why a custom server can run only one replica on one machine, or null when it can run many. */
export function singleReplicaReason(server: CustomServer): string | null {
  if (server.perReplicaPort) return null;
  return (
    `its start_command listens on the fixed server_port ${server.port}, so this machine runs one ` +
    'replica of it (a new revision replaces it stop-then-start; another deployment waits until it ' +
    'stops); take the port from $PORT (e.g. --port ${PORT:-' +
    `${server.port}}) to run more`
  );
}

export type LivenessVerdict = 'serving' | 'out-of-routing' | 'replace';

/**
 * A ready custom server's liveness over time: probes that fail for `stopTrafficS` take it out of
 * routing (one that answers again comes back), for `restartS` replace it. Times are given, not read.
 */
export class LivenessWatch {
  private failingSince: number | null = null;

  constructor(
    private readonly health: HealthThresholds,
    private readonly readyAtMs: number,
  ) {}

  /** The verdict once a probe at `nowMs` answered (`ok`: a 2xx) or did not. */
  observe(nowMs: number, ok: boolean): LivenessVerdict {
    if (ok) {
      this.failingSince = null;
      return 'serving';
    }
    this.failingSince ??= nowMs;
    const failingS = (nowMs - this.failingSince) / 1000;
    const restartsChecked = nowMs - this.readyAtMs >= this.health.checkDelayS * 1000;
    if (failingS >= this.health.restartS && restartsChecked) return 'replace';
    if (failingS >= this.health.stopTrafficS) return 'out-of-routing';
    return 'serving';
  }
}

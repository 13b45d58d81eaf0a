// The settings of a running server (`plinth up`) and of an inference-only gateway (`plinth
// gateway`): validated once at the edge, with every default in this one place, then frozen. A bad
// value is an error that names the flag it came from.
import { z } from 'zod';
import { parseDurationS } from '../domain/duration.ts';

const seconds = z.coerce.number().positive();
const count = z.coerce.number().int().min(0);
/** `90s`, `30m`, `12h`, `14d` (or a number of seconds), as seconds. */
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const s = typeof v === 'number' ? (v > 0 ? v : null) : parseDurationS(v);
  if (s !== null) return s;
  ctx.addIssue({ code: 'custom', message: 'expected a duration such as 90s, 30m, 12h or 14d' });
  return z.NEVER;
});

const WORKERS_RANGE = 'expected a whole number of processes from 1 to 64';

const common = {
  host: z.string().min(1).default('127.0.0.1'),
  /** Seconds a request may wait for a replica before 504. */
  parkTimeoutS: seconds.default(600),
  /** Requests that may wait per deployment before 429. */
  maxQueue: count.default(1000),
  /** Seconds a client may take to send a request's headers, and its whole request. */
  headersTimeoutS: seconds.default(30),
  requestTimeoutS: seconds.default(300),
  /** Largest inference request body in bytes. */
  maxInferenceBodyBytes: count.default(100 * 1024 ** 2),
  /** Seconds a client may leave a response unread before it is cut off and its slot freed. */
  stallTimeoutS: seconds.default(60),
  /** Open connections at most (0: no cap); a silent connection is closed after the headers timeout. */
  maxConnections: count.default(10_000),
  /**
   * Host names the host form of inference URLs may end with (`model-{id}.<suffix>`); a comma list.
   * The public URL's host is added to them.
   */
  hostSuffixes: z
    .union([z.string(), z.array(z.string())])
    .default('localhost')
    .transform((v) =>
      (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean),
    ),
  /** Whether /metrics needs an API key (any scope). */
  metricsAuth: z.boolean().default(false),
  /** Whether async requests may name webhooks on private and loopback addresses. */
  allowPrivateWebhooks: z.boolean().default(false),
  /** Largest model_input of an async request, bytes. */
  asyncMaxInputBytes: count.default(256 * 1024),
  /** Seconds an async request's result is kept for GET …/async_request/{id}. */
  asyncRetentionS: seconds.default(3600),
  /** Processes that serve the port together: this one and `gatewayWorkers − 1` forked workers. */
  gatewayWorkers: z.coerce
    .number({ error: WORKERS_RANGE })
    .int({ error: WORKERS_RANGE })
    .min(1, { error: WORKERS_RANGE })
    .max(64, { error: WORKERS_RANGE })
    .default(1),
};

const kubernetes = z.strictObject({
  /** The URL replica pods reach this control plane's API at (a Service in the cluster). */
  publicUrl: z
    .string()
    .regex(/^https?:\/\/[^/]+/, 'expected the http(s):// URL replica pods reach this API at'),
  namespace: z.string().min(1).optional(),
  imagePrefix: z.string().optional(),
  imageTag: z.string().optional(),
  preStopSeconds: count.optional(),
});

const serverSchema = z
  .strictObject({
    ...common,
    homeDir: z.string().min(1),
    port: z.coerce.number().int().min(0).max(65535).default(4780),
    /** Pre-started model servers per language (cold starts pay only for the model's load()). */
    nodeStandbys: count.default(1),
    pythonStandbys: count.default(1),
    /** Control-loop interval. */
    tickMs: z.coerce.number().int().min(10).default(1000),
    /** Failed authentications a client may make in a minute before its answers slow down. */
    authFailuresPerMinute: z.coerce.number().positive().default(20),
    /** Seconds a stopping replica may take to finish the requests it has. */
    drainS: seconds.default(30),
    /** `cpu=8,memory=32Gi,gpu=H100:2`: what replicas are placed on instead of what was detected. */
    capacity: z.string().min(1).optional(),
    /** A postgres:// URL for a shared PostgreSQL store; SQLite in the home when absent. */
    store: z
      .string()
      .regex(/^postgres(ql)?:\/\/./, 'expected a postgres:// URL (or none, for SQLite in the home)')
      .optional(),
    /** Seconds replicas keep serving after this server dies, for a restart to adopt them. */
    replicaGraceS: seconds.default(60),
    /** Run replicas as pods on a Kubernetes cluster instead of processes on this machine. */
    kubernetes: kubernetes.optional(),
    /** Deactivate deployments that had no inference traffic for this many seconds; never when absent. */
    deactivateAfterIdleS: duration.optional(),
  })
  // Workers share routes, keys and request counts through the store: SQLite is one process's file.
  .superRefine((c, ctx) => {
    if (c.gatewayWorkers > 1 && !c.store)
      ctx.addIssue({
        code: 'custom',
        path: ['gatewayWorkers'],
        message:
          'needs a PostgreSQL store (--store postgres://…): the workers share routes, keys and request counts through it',
      });
  });

const gatewaySchema = z.strictObject({
  ...common,
  port: z.coerce.number().int().min(0).max(65535).default(4781),
  /** The postgres:// URL of the store the control planes use. */
  store: z
    .string()
    .regex(
      /^postgres(ql)?:\/\/./,
      'a gateway needs the postgres:// URL of the store its control planes share',
    ),
});

export type ServerConfig = Readonly<z.output<typeof serverSchema>>;
export type ServerConfigInput = z.input<typeof serverSchema>;
export type GatewayConfig = Readonly<z.output<typeof gatewaySchema>>;
export type GatewayConfigInput = z.input<typeof gatewaySchema>;

/** A setting's command-line flag, for errors that name what the user typed. */
const FLAGS: Record<string, string> = {
  homeDir: '--home',
  parkTimeoutS: '--park-timeout',
  maxQueue: '--max-queue',
  headersTimeoutS: '--headers-timeout',
  requestTimeoutS: '--request-timeout',
  authFailuresPerMinute: '--auth-failures-per-minute',
  replicaGraceS: '--replica-grace',
  drainS: '--drain-timeout',
  stallTimeoutS: '--stall-timeout',
  hostSuffixes: '--host-suffix',
  maxInferenceBodyBytes: '--max-body-bytes',
  asyncRetentionS: '--async-retention',
  publicUrl: '--public-url',
  namespace: '--kube-namespace',
  imagePrefix: '--image-prefix',
  deactivateAfterIdleS: '--deactivate-after-idle',
  gatewayWorkers: '--gateway-workers',
};

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export class ServerConfigError extends Error {
  override readonly name = 'ServerConfigError';
}

function parse<S extends z.ZodType>(schema: S, input: unknown): Readonly<z.output<S>> {
  const result = schema.safeParse(input);
  if (result.success) return deepFreeze(result.data) as Readonly<z.output<S>>;
  const issue = result.error.issues[0]!;
  const key = String(issue.path[issue.path.length - 1] ?? '');
  const flag = FLAGS[key] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const given = issue.path.reduce<unknown>(
    (value, k) => (value as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey],
    input,
  );
  throw new ServerConfigError(
    `${flag} ${given === undefined || given === '' ? '(none)' : String(given)}: ${issue.message}`,
  );
}

/** `plinth up`'s settings, defaulted and frozen; throws ServerConfigError naming the flag. */
export function serverConfig(input: ServerConfigInput): ServerConfig {
  return parse(serverSchema, input);
}

/** `plinth gateway`'s settings, defaulted and frozen; throws ServerConfigError naming the flag. */
export function gatewayConfig(input: GatewayConfigInput): GatewayConfig {
  return parse(gatewaySchema, input);
}

/**
 * The settings of a gateway worker of `plinth up` (`--gateway-workers`): the server's own limits
 * and deadlines, its store, and the host names it serves (`hostSuffixes`: the public URL's too).
 */
export function workerGatewayConfig(
  server: ServerConfig,
  port: number,
  hostSuffixes: readonly string[],
): GatewayConfig {
  if (!server.store) throw new Error('gateway workers need the PostgreSQL store');
  return deepFreeze({
    host: server.host,
    port,
    store: server.store,
    parkTimeoutS: server.parkTimeoutS,
    maxQueue: server.maxQueue,
    headersTimeoutS: server.headersTimeoutS,
    requestTimeoutS: server.requestTimeoutS,
    maxInferenceBodyBytes: server.maxInferenceBodyBytes,
    stallTimeoutS: server.stallTimeoutS,
    maxConnections: server.maxConnections,
    hostSuffixes: [...hostSuffixes],
    metricsAuth: server.metricsAuth,
    allowPrivateWebhooks: server.allowPrivateWebhooks,
    asyncMaxInputBytes: server.asyncMaxInputBytes,
    asyncRetentionS: server.asyncRetentionS,
    gatewayWorkers: server.gatewayWorkers,
  });
}

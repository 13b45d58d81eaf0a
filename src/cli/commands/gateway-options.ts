// The options of whatever serves inference — `plinth up` and `plinth gateway` alike: queueing,
// slow and silent clients, connection and body limits, host names, /metrics access, and async
// requests (their input limit, result retention, and whether webhooks may be private), and how
// many processes serve the port together (--gateway-workers).
import type { Command } from 'commander';

export interface GatewayFlags {
  maxQueue: string;
  parkTimeout: string;
  stallTimeout: string;
  maxConnections: string;
  hostSuffix: string;
  metricsAuth?: boolean;
  maxBodyBytes: string;
  allowPrivateWebhooks?: boolean;
  asyncMaxInputBytes: string;
  asyncRetention: string;
  gatewayWorkers?: string;
}

export function addGatewayOptions(command: Command): Command {
  return command
    .option('--max-queue <n>', 'requests that may wait per deployment before 429', '1000')
    .option('--park-timeout <seconds>', 'how long a request may wait for a replica before 504', '600')
    .option(
      '--stall-timeout <seconds>',
      'how long a client may leave a response unread before it is cut off',
      '60',
    )
    .option('--max-connections <n>', 'open connections at most (0: no cap)', '10000')
    .option(
      '--host-suffix <names>',
      'host names inference URLs of the form model-{id}.<name> may use (comma list)',
      'localhost',
    )
    .option('--metrics-auth', 'require an API key for /metrics')
    .option('--max-body-bytes <n>', 'largest inference request body, in bytes', String(100 * 1024 ** 2))
    .option('--allow-private-webhooks', 'let async requests name webhooks on private and loopback addresses')
    .option(
      '--async-max-input-bytes <n>',
      "largest async request's model_input, in bytes",
      String(256 * 1024),
    )
    .option(
      '--async-retention <seconds>',
      'how long an async result is kept for GET …/async_request/{id}',
      '3600',
    )
    .option(
      '--gateway-workers <n>',
      'processes that serve the port together, each a gateway with its own store connection (1–64; default $PLINTH_GATEWAY_WORKERS, else 1; more than 1 needs --store postgres://…)',
    );
}

/** The flags as the server and gateway settings name them. */
export function gatewaySettingsOf(flags: GatewayFlags) {
  return {
    maxQueue: flags.maxQueue,
    parkTimeoutS: flags.parkTimeout,
    stallTimeoutS: flags.stallTimeout,
    maxConnections: flags.maxConnections,
    hostSuffixes: flags.hostSuffix,
    metricsAuth: flags.metricsAuth === true,
    maxInferenceBodyBytes: flags.maxBodyBytes,
    allowPrivateWebhooks: flags.allowPrivateWebhooks === true,
    asyncMaxInputBytes: flags.asyncMaxInputBytes,
    asyncRetentionS: flags.asyncRetention,
    gatewayWorkers: flags.gatewayWorkers ?? (process.env.PLINTH_GATEWAY_WORKERS || undefined),
  };
}

// `plinth gateway`: an inference-only process beside the control planes, on their PostgreSQL store.
import type { Command } from 'commander';
import { startGatewayServer } from '../../gateway-server.ts';
import { UserError } from '../errors.ts';
import { gatewaySettings } from '../server-options.ts';

interface GatewayOptions {
  port: string;
  host: string;
  store?: string;
  parkTimeout: string;
  maxQueue: string;
  stallTimeout: string;
  maxConnections: string;
  hostSuffix: string;
  metricsAuth?: boolean;
  maxBodyBytes: string;
}

export function registerGateway(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('gateway')
    .description(
      'Serve inference only, from the shared PostgreSQL store (no API, no replicas, no control loops)',
    )
    .option('--port <port>', 'port for inference', '4781')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--store <url>', 'the postgres:// URL the control planes use (default $PLINTH_STORE)')
    .option('--park-timeout <seconds>', 'how long a request may wait for a replica before 504', '600')
    .option('--max-queue <n>', 'requests that may wait per deployment before 429', '1000')
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
    .action((options: GatewayOptions) =>
      run(async () => {
        const config = gatewaySettings({
          store: options.store ?? process.env.PLINTH_STORE ?? '',
          port: options.port,
          host: options.host,
          maxQueue: options.maxQueue,
          parkTimeoutS: options.parkTimeout,
          stallTimeoutS: options.stallTimeout,
          maxConnections: options.maxConnections,
          hostSuffixes: options.hostSuffix,
          metricsAuth: options.metricsAuth === true,
          maxInferenceBodyBytes: options.maxBodyBytes,
        });
        let gateway;
        try {
          gateway = await startGatewayServer(config);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
            throw new UserError(
              `port ${config.port} on ${config.host} is already in use; pass --port to pick another`,
            );
          throw err;
        }
        process.stdout.write(`Plinth gateway ${gateway.gatewayId} is serving inference at ${gateway.url}\n`);
        const stop = (): void => void gateway.close().then(() => process.exit(0));
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      }, false),
    );
}

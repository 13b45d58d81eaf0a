// `plinth gateway`: an inference-only process beside the control planes, on their PostgreSQL store;
// and the hidden `plinth gateway-worker`, which `--gateway-workers` forks (never run by hand).
import type { Command } from 'commander';
import { startGatewayServer } from '../../gateway-server.ts';
import { runGatewayWorker, WORKER_COMMAND } from '../../gateway-worker.ts';
import { UserError } from '../errors.ts';
import { gatewaySettings } from '../server-options.ts';
import { addGatewayOptions, gatewaySettingsOf } from './gateway-options.ts';
import type { GatewayFlags } from './gateway-options.ts';

interface GatewayOptions extends GatewayFlags {
  port: string;
  host: string;
  store?: string;
}

export function registerGateway(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const command = program
    .command('gateway')
    .description(
      'Serve inference only, from the shared PostgreSQL store (no API, no replicas, no control loops)',
    )
    .option('--port <port>', 'port for inference', '4781')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--store <url>', 'the postgres:// URL the control planes use (default $PLINTH_STORE)');
  addGatewayOptions(command).action((options: GatewayOptions) =>
    run(async () => {
      const config = gatewaySettings({
        store: options.store ?? process.env.PLINTH_STORE ?? '',
        port: options.port,
        host: options.host,
        ...gatewaySettingsOf(options),
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
      const workers =
        gateway.processes > 1
          ? ` with ${gateway.processes} gateway workers (this process and ${gateway.processes - 1} more share the port)`
          : '';
      process.stdout.write(
        `Plinth gateway ${gateway.gatewayId} is serving inference at ${gateway.url}${workers}\n`,
      );
      const stop = (): void => void gateway.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    }, false),
  );
  program
    .command(WORKER_COMMAND, { hidden: true })
    .description('(internal) one gateway worker of --gateway-workers, started by its primary process')
    .action(() =>
      run(async () => {
        if (!process.send)
          throw new UserError(
            `plinth ${WORKER_COMMAND} is started by \`plinth up\` or \`plinth gateway\` with --gateway-workers, not by hand`,
          );
        await runGatewayWorker();
      }, false),
    );
}

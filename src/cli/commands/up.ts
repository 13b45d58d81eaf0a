// `plinth up`: run the whole platform in this process until interrupted.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultHomeDir } from '../../home.ts';
import { startServer } from '../../server.ts';
import { ApiClient } from '../api-client.ts';
import { UserError } from '../errors.ts';
import { serverSettings, storeUrl } from '../server-options.ts';
import type { ServerConfigInput } from '../../config/server-config.ts';
import { describeCall, pushModel } from './push.ts';
import { readCredentials } from '../../credentials.ts';
import { join, resolve } from 'node:path';
import { packageRoot } from '../../package-root.ts';
import { addGatewayOptions, gatewaySettingsOf } from './gateway-options.ts';
import type { GatewayFlags } from './gateway-options.ts';

interface UpOptions extends GatewayFlags {
  port: string;
  host: string;
  home?: string;
  withExample?: boolean;
  capacity?: string;
  headersTimeout: string;
  requestTimeout: string;
  authFailuresPerMinute: string;
  replicaGrace: string;
  drainTimeout: string;
  store?: string;
  runtime?: string;
  kubeNamespace?: string;
  publicUrl?: string;
  imagePrefix?: string;
  deactivateAfterIdle?: string;
}

const EXAMPLE_DIR = join(packageRoot(), 'examples', 'hello');

function kubernetesOptions(options: UpOptions): ServerConfigInput['kubernetes'] {
  const runtime = options.runtime ?? process.env.PLINTH_RUNTIME ?? 'local';
  if (runtime === 'local') return undefined;
  if (runtime !== 'kubernetes') throw new UserError(`--runtime ${runtime}: expected "local" or "kubernetes"`);
  const publicUrl = options.publicUrl ?? process.env.PLINTH_PUBLIC_URL;
  if (!publicUrl)
    throw new UserError(
      `--public-url (none): with --runtime kubernetes, give the http(s):// URL replica pods reach this API at (e.g. http://plinth.plinth.svc:4780)`,
    );
  return { publicUrl, namespace: options.kubeNamespace, imagePrefix: options.imagePrefix };
}

export function registerUp(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const command = program
    .command('up')
    .description('Run Plinth on this machine: API, gateway, builder, reconciler (SQLite, local runtime)')
    .option('--port <port>', 'port for the API and inference', '4780')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--home <dir>', 'state directory (default $PLINTH_HOME or ~/.plinth)')
    .option('--with-example', 'deploy examples/hello once the server is up')
    .option(
      '--auth-failures-per-minute <n>',
      'failed key checks a client may make a minute before answers slow down',
      '20',
    )
    .option('--headers-timeout <seconds>', 'how long a client may take to send request headers', '30')
    .option('--request-timeout <seconds>', 'how long a client may take to send a whole request', '300')
    .option(
      '--store <url>',
      'a postgres:// URL to keep state in PostgreSQL (default $PLINTH_STORE, else SQLite in the home)',
    )
    .option(
      '--replica-grace <seconds>',
      'how long replicas keep serving if the server dies, for its restart to adopt them',
      '60',
    )
    .option('--drain-timeout <seconds>', 'how long a stopping replica may take to finish its requests', '30')
    .option(
      '--capacity <spec>',
      'what replicas may use instead of what was detected: cpu=8,memory=32Gi,gpu=H100:2',
    )
    .option(
      '--runtime <backend>',
      'where replicas run: local (processes here) or kubernetes (pods; default $PLINTH_RUNTIME, else local)',
    )
    .option(
      '--kube-namespace <ns>',
      "namespace for replica pods (default: this pod's, else the kubeconfig's)",
    )
    .option('--public-url <url>', 'with --runtime kubernetes: the URL replica pods reach this API at')
    .option(
      '--image-prefix <prefix>',
      "with --runtime kubernetes: where Plinth's images are (<prefix>server, <prefix>runtime-node, …)",
      'plinth/',
    )
    .option(
      '--deactivate-after-idle <duration>',
      'deactivate deployments that had no inference traffic this long: 90s, 12h, 14d (default $PLINTH_DEACTIVATE_AFTER_IDLE, else never)',
    );
  addGatewayOptions(command).action((options: UpOptions) =>
    run(async () => {
      const homeDir = options.home ? resolve(options.home) : defaultHomeDir();
      const config = serverSettings({
        homeDir,
        port: options.port,
        host: options.host,
        ...gatewaySettingsOf(options),
        capacity: options.capacity,
        headersTimeoutS: options.headersTimeout,
        requestTimeoutS: options.requestTimeout,
        authFailuresPerMinute: options.authFailuresPerMinute,
        replicaGraceS: options.replicaGrace,
        drainS: options.drainTimeout,
        store: storeUrl(options.store),
        kubernetes: kubernetesOptions(options),
        deactivateAfterIdleS:
          options.deactivateAfterIdle ?? (process.env.PLINTH_DEACTIVATE_AFTER_IDLE || undefined),
      });
      let server;
      try {
        server = await startServer(config);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE')
          throw new UserError(
            `port ${config.port} on ${config.host} is already in use; pass --port to pick another`,
          );
        if (code === 'EACCES') throw new UserError(`not allowed to listen on ${config.host}:${config.port}`);
        throw err;
      }
      const out = (line = ''): boolean => process.stdout.write(line + '\n');
      out(`Plinth is running at ${server.url}  (home: ${homeDir})`);
      out(`Dashboard: ${server.url}/  (sign in with the API key)`);
      for (const line of server.resources) out(line);
      if (server.createdApiKey) {
        out(`Admin API key (shown once; saved in ${server.credentialsFile}):`);
        out(`  ${server.createdApiKey}`);
        out(`Calling a model needs it too:  export PLINTH_API_KEY=${server.createdApiKey}`);
      } else out(`API key: in ${server.credentialsFile}`);
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        out('\nStopping: draining replicas…');
        void server.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      if (options.withExample && existsSync(EXAMPLE_DIR)) {
        const credentials = readCredentials(server.credentialsFile)!;
        const client = new ApiClient({ url: server.url, apiKey: credentials.api_key });
        out(`Deploying the example model (examples/hello)…`);
        const { deployment, elapsedMs } = await pushModel(client, EXAMPLE_DIR, {
          wait: true,
          quiet: true,
          reuseProduction: true,
        });
        out(`✔ hello ${deployment.name} is ACTIVE after ${(elapsedMs / 1000).toFixed(1)} s. Call it:`);
        out(describeCall(deployment, '{"text": "Plinth makes deploying models easy"}'));
      } else {
        out('Deploy a model:  npx plinth push ./examples/hello');
      }
      out('Press Ctrl-C to stop.');
      await new Promise(() => {});
    }, false),
  );
}

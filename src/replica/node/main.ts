// Entry point of a Node replica process: becomes its replica (at once, or as a standby when it is
// handed one: `takeover.ts`), reads its settings from the environment the runtime backend gives
// it, starts the model server, and drains on SIGTERM.
import { join } from 'node:path';
import { tagConsole } from './request-context.ts';
import { createModelServer } from './server.ts';
import { becomeReplica, watchParent } from './takeover.ts';

tagConsole();

const parentFile = await becomeReplica();

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined) {
    console.error(`replica: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const appDir = env('PLINTH_APP_DIR');
const config = JSON.parse(env('PLINTH_CONFIG_JSON')) as Record<string, unknown> & {
  model_class_name?: string;
  data_dir?: string;
  runtime?: {
    predict_concurrency?: number;
    transport?: {
      kind?: string;
      ping_interval_seconds?: number | null;
      ping_timeout_seconds?: number | null;
    };
  };
};
const transport = config.runtime?.transport;
const listen = env('PLINTH_LISTEN');
// The model's code has no use for it: only the server keeps it.
const token = process.env.PLINTH_REPLICA_TOKEN;
delete process.env.PLINTH_REPLICA_TOKEN;

const modelServer = createModelServer({
  modelFile: join(appDir, env('PLINTH_MODEL_FILE')),
  className: config.model_class_name ?? 'Model',
  predictConcurrency: config.runtime?.predict_concurrency ?? 1,
  websocketPing: {
    intervalMs: (transport?.ping_interval_seconds ?? 20) * 1000,
    timeoutMs: (transport?.ping_timeout_seconds ?? 20) * 1000,
  },
  ...(token ? { token } : {}),
  context: {
    config,
    dataDir: join(appDir, config.data_dir ?? 'data'),
    secrets: JSON.parse(process.env.PLINTH_SECRETS_JSON ?? '{}') as Record<string, string>,
    environment: JSON.parse(process.env.PLINTH_ENVIRONMENT_JSON ?? 'null') as Record<string, unknown> | null,
  },
  onLoadError(err) {
    // The marker line lets the platform quote the model's own error in events.
    console.error(`plinth: load() failed: ${err.message}`);
    console.error(err.stack ?? String(err));
    process.exit(3);
  },
});

const announce = (): void => {
  const address = modelServer.server.address();
  const where = typeof address === 'string' ? address : `${address?.address ?? '127.0.0.1'}:${address?.port}`;
  // The runtime backend reads this line to learn where the replica listens.
  console.log(`plinth: listening on ${where}`);
};
const hostPort = /^\[?([^\]/]*?)\]?:(\d+)$/.exec(listen);
if (/^\d+$/.test(listen)) modelServer.server.listen(Number(listen), '127.0.0.1', announce);
// host:port, as in a pod: its own IP and the port its Deployment names.
else if (hostPort) modelServer.server.listen(Number(hostPort[2]), hostPort[1], announce);
else modelServer.server.listen(listen, announce);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void modelServer.drain().then(() => process.exit(0));
});

watchParent(
  Number(process.env.PLINTH_PARENT_PID ?? 0),
  parentFile,
  Number(process.env.PLINTH_REPLICA_GRACE_S ?? 0) * 1000,
);

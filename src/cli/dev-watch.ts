// The CLI side of live reload: watches a model directory (chokidar; the bundle's ignore rules
// decide what counts), batches changes, and sends the server a patch of changed, added and removed
// files against the bundle it holds. A conflict (the server holds something else) falls back to a
// full sync; a patch that fails to build or load is reported and the watch goes on, so the next
// good save recovers. While it runs, the development deployment is kept awake.
import { setTimeout as sleep } from 'node:timers/promises';
import { watch } from 'chokidar';
import { diffSnapshots, makePatch, snapshotDirectory } from '../bundle/patch.ts';
import type { Snapshot } from '../bundle/patch.ts';
import type { ApiClient, DeploymentInfo } from './api-client.ts';
import { ApiError } from './errors.ts';
import { packModelDir, readModelDir } from './model-dir.ts';
import { formatLogLine } from './output.ts';

const DEBOUNCE_MS = 75;
const KEEP_AWAKE_S = 60;
const RENEW_MS = 20_000;

/** What the server holds: its bundle, and the local files that bundle was made from. */
export interface Synced {
  deployment: DeploymentInfo;
  snapshot: Snapshot;
}

export interface WatchOptions {
  tail?: boolean;
  /** The last log line already shown (for --tail). */
  afterLogId?: number;
  /** Where results go (stdout by default). */
  print?: (line: string) => void;
}

/**
 * Sends the whole directory as the development deployment's bundle (creating it when missing),
 * to `modelName` (by default the directory's model).
 */
export async function fullSync(client: ApiClient, dirArg: string, modelName?: string): Promise<Synced> {
  const model = readModelDir(dirArg, modelName);
  const snapshot = snapshotDirectory(model.dir);
  const bundle = await packModelDir(model);
  if (!(await client.hasBundle(bundle.sha256))) await client.uploadBundle(bundle.sha256, bundle.bytes);
  const deployment = await client.createDeployment(model.modelName, {
    bundle_sha256: bundle.sha256,
    development: true,
  });
  return { deployment, snapshot };
}

/** Watches until the process is interrupted. */
export async function watchDevelopment(
  client: ApiClient,
  dirArg: string,
  start: Synced,
  options: WatchOptions = {},
): Promise<void> {
  const print = options.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const modelName = start.deployment.model_name;
  const model = readModelDir(dirArg, modelName);
  let synced = start;
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let dirty = false;

  const renew = (): void =>
    void client.keepAwake(modelName, KEEP_AWAKE_S).catch((err: Error) => print(`warning: ${err.message}`));
  renew();
  const renewTimer = setInterval(renew, RENEW_MS);

  const sendChanges = async (): Promise<void> => {
    if (busy) {
      dirty = true;
      return;
    }
    busy = true;
    try {
      do {
        dirty = false;
        synced = await syncOnce(client, dirArg, model.dir, synced, print);
      } while (dirty);
    } finally {
      busy = false;
    }
  };

  const watcher = watch(model.dir, {
    ignoreInitial: true,
    ignored: (path: string) => /(^|[\\/])(node_modules|\.git|__pycache__)([\\/]|$)/.test(path),
  });
  watcher.on('all', () => {
    clearTimeout(timer);
    timer = setTimeout(() => void sendChanges(), DEBOUNCE_MS);
  });
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  print(`Watching ${dirArg} → ${start.deployment.predict_url} (Ctrl-C to stop)`);

  let afterId = options.afterLogId ?? 0;
  const tail = async (): Promise<void> => {
    for (;;) {
      await sleep(400);
      const lines = await client
        .logs(synced.deployment.model_id, synced.deployment.id, { after_id: afterId, limit: 1000 })
        .catch(() => []);
      for (const l of lines) {
        print(formatLogLine(l));
        afterId = l.id;
      }
    }
  };
  if (options.tail) void tail();

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      clearInterval(renewTimer);
      clearTimeout(timer);
      void watcher.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** Sends what changed since the last sync; returns what the server holds afterwards. */
async function syncOnce(
  client: ApiClient,
  dirArg: string,
  dir: string,
  synced: Synced,
  print: (line: string) => void,
): Promise<Synced> {
  let now: Snapshot;
  try {
    now = snapshotDirectory(dir);
  } catch (err) {
    print(`✖ cannot read ${dirArg}: ${(err as Error).message}`);
    return synced;
  }
  const { changed, removed } = diffSnapshots(synced.snapshot, now);
  if (changed.length === 0 && removed.length === 0) return synced;
  const what = [...changed, ...removed.map((r) => `-${r}`)].join(', ');
  const started = Date.now();
  try {
    const patch = makePatch(dir, synced.deployment.bundle_sha256, changed, removed);
    const deployment = await client.patchDevelopment(synced.deployment.model_name, patch);
    print(`✔ reloaded in ${Date.now() - started} ms (${what})`);
    return { deployment, snapshot: now };
  } catch (err) {
    if (err instanceof ApiError && err.code === 'PATCH_CONFLICT') {
      print('→ the server holds other files: sending the whole directory');
      try {
        const full = await fullSync(client, dirArg, synced.deployment.model_name);
        print(`✔ reloaded in ${Date.now() - started} ms (full sync)`);
        return full;
      } catch (fullErr) {
        print(`✖ ${(fullErr as Error).message}`);
        return synced;
      }
    }
    if (err instanceof ApiError && err.code === 'NEEDS_PUSH') {
      print(`✖ ${err.message}`);
      return synced;
    }
    // Build or load failures, bad config: the previous code keeps serving; the next save retries.
    print(`✖ reload failed (${what}); the previous code keeps serving:\n${(err as Error).message}`);
    return synced;
  }
}

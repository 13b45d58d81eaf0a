// `plinth fetch-artifacts`: what a replica pod's init container runs on Kubernetes — it downloads
// the deployment's built app directory (and its prepared environment, and the base environment
// layered under that) from the control plane's
// artifact API with $PLINTH_API_KEY and unpacks them where the model server expects them.
// `bin/plinth.js` runs it from its own small bundle (fetch-artifacts-main.ts), without loading the
// whole CLI: it is on the path of every replica start on Kubernetes.
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { unpackArchive } from '../../bundle/directory-archive.ts';
import { UserError } from '../errors.ts';
import { fetchWeightsInto } from '../../weights/pod-fetch.ts';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../package-root.ts';

export interface FetchOptions {
  app: string;
  into: string;
  environment?: string;
  environmentInto?: string;
  baseEnvironment?: string;
  baseEnvironmentInto?: string;
  /** The control plane's /v1/weights URL: the app's weights are fetched by sha256 into `weightsCache`. */
  weights?: string;
  weightsCache?: string;
  /** Where to copy Plinth's Python model server (a model on its own base_image runs it from there). */
  modelServerInto?: string;
}

const ATTEMPTS = 5;

async function fetchInto(url: string, dest: string, apiKey: string | undefined): Promise<void> {
  let last = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const res = await fetch(url, { headers: apiKey ? { authorization: `Api-Key ${apiKey}` } : {} });
      if (res.ok && res.body) {
        await unpackArchive(Readable.fromWeb(res.body as ReadableStream), dest);
        console.log(`fetched ${url} into ${dest}`);
        return;
      }
      const body = await res.text();
      last = `HTTP ${res.status}: ${body.slice(0, 300)}`;
      // A refusal will not change by asking again.
      if (res.status >= 400 && res.status < 500) break;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250 * 2 ** attempt);
  }
  throw new UserError(`cannot fetch ${url}: ${last}`);
}

export function registerFetchArtifacts(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('fetch-artifacts')
    .description("Download a deployment's build into a replica pod (run by its init container on Kubernetes)")
    .requiredOption('--app <url>', 'artifact URL of the built app directory')
    .requiredOption('--into <dir>', 'where to unpack it')
    .option('--environment <url>', 'artifact URL of the prepared environment')
    .option('--environment-into <dir>', 'where to unpack the environment')
    .option('--base-environment <url>', 'artifact URL of the base environment layered under it')
    .option('--base-environment-into <dir>', 'where to unpack the base environment')
    .option('--weights <url>', "the control plane's /v1/weights URL (the app's weights and data, by sha256)")
    .option('--weights-cache <dir>', 'the shared cache volume they are fetched into')
    .option('--model-server-into <dir>', "where to copy Plinth's Python model server (for a base_image)")
    .action((options: FetchOptions) => run(() => fetchArtifacts(options), false));
}

export async function fetchArtifacts(options: FetchOptions): Promise<void> {
  if (!!options.environment !== !!options.environmentInto)
    throw new UserError('--environment and --environment-into go together');
  if (!!options.baseEnvironment !== !!options.baseEnvironmentInto)
    throw new UserError('--base-environment and --base-environment-into go together');
  if (!!options.weights !== !!options.weightsCache)
    throw new UserError('--weights and --weights-cache go together');
  const apiKey = process.env.PLINTH_API_KEY;
  if (options.modelServerInto) copyModelServer(options.modelServerInto);
  await Promise.all([
    fetchInto(options.app, options.into, apiKey).then(async () => {
      if (options.weights) {
        await fetchWeightsInto(options.into, options.weights, options.weightsCache!, apiKey).catch(
          (err: Error) => {
            throw new UserError(`cannot fetch the weights: ${err.message}`);
          },
        );
      }
    }),
    options.environment ? fetchInto(options.environment, options.environmentInto!, apiKey) : null,
    options.baseEnvironment ? fetchInto(options.baseEnvironment, options.baseEnvironmentInto!, apiKey) : null,
  ]);
}

/** Copies the Python model server (standard library only) for a model that runs on its own image. */
export function copyModelServer(into: string): void {
  cpSync(join(packageRoot(), 'src', 'replica', 'python'), into, {
    recursive: true,
    filter: (source) => !source.includes('__pycache__'),
  });
  console.log(`copied the model server into ${into}`);
}

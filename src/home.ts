// The layout of a Plinth home directory (`$PLINTH_HOME`, default ~/.plinth). Paths only; no I/O.
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface PlinthHome {
  root: string;
  database: string;
  credentials: string;
  bundles: string;
  environments: string;
  /** Truss's base Python environments, one per interpreter: `$PLINTH_PYTHON_BASE_DIR` (shared by many homes), else `<home>/python-base`. */
  pythonBase: string;
  deployments: string;
  /** The extracted bundle a deployment's replicas run from. */
  appDir(deploymentId: string): string;
  /** Where builds were recorded before the store held them (read for deployments that old). */
  buildRecord(deploymentId: string): string;
  /** Instance types added to (or replacing) the built-in catalog. */
  instanceTypesFile: string;
  /** The key that encrypts secrets at rest (mode 600), unless PLINTH_SECRET_KEY gives one. */
  secretKeyFile: string;
  /** What the local backend keeps about running replicas (records, output), for adoption after a crash. */
  replicaRun: string;
  /** Downloaded weights and data, by sha256, shared by every deployment (src/weights/cache.ts). */
  weightsCache: string;
}

export function defaultHomeDir(): string {
  return process.env.PLINTH_HOME ? resolve(process.env.PLINTH_HOME) : join(homedir(), '.plinth');
}

/** The home whose replica directory `runDir` is (`<home>/run/replicas`), or null for any other directory. */
export function homeOfReplicaRun(runDir: string): string | null {
  const root = dirname(dirname(resolve(runDir)));
  return plinthHome(root).replicaRun === resolve(runDir) ? root : null;
}

export function plinthHome(root: string): PlinthHome {
  const deployments = join(root, 'deployments');
  return {
    root,
    database: join(root, 'plinth.db'),
    credentials: join(root, 'credentials.json'),
    bundles: join(root, 'bundles'),
    environments: join(root, 'environments'),
    pythonBase: process.env.PLINTH_PYTHON_BASE_DIR
      ? resolve(process.env.PLINTH_PYTHON_BASE_DIR)
      : join(root, 'python-base'),
    deployments,
    appDir: (id) => join(deployments, id, 'app'),
    buildRecord: (id) => join(deployments, id, 'build.json'),
    instanceTypesFile: join(root, 'instance_types.yaml'),
    secretKeyFile: join(root, 'secret.key'),
    replicaRun: join(root, 'run', 'replicas'),
    weightsCache: join(root, 'weights-cache'),
  };
}

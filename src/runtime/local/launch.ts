// How a local replica process is launched for each model language. The Node model server runs
// from its bundle in dist/ when that is up to date (no TypeScript loader: faster start, half the
// memory), else from its sources through tsx.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { isFresh } from '../../../bin/dist-freshness.mjs';
import { packageRoot } from '../../package-root.ts';
import type { ReplicaSpec } from '../backend.ts';
import { openOutput } from './replica-files.ts';
import type { OutputPaths } from './replica-files.ts';

export interface LaunchCommand {
  command: string;
  args: string[];
}

let nodeReplica: string[] | undefined;

function nodeReplicaArgs(): string[] {
  if (nodeReplica) return nodeReplica;
  const root = packageRoot();
  const bundle = join(root, 'dist', 'replica-node.mjs');
  nodeReplica = isFresh(bundle, join(root, 'src', 'replica', 'node'))
    ? [bundle]
    : ['--import', import.meta.resolve('tsx'), join(root, 'src', 'replica', 'node', 'main.ts')];
  return nodeReplica;
}

export function nodeReplicaCommand(): LaunchCommand {
  return { command: process.execPath, args: nodeReplicaArgs() };
}

/** The Python model server under `python` (a venv's, or a base interpreter for a standby). */
export function pythonReplicaCommand(python: string): LaunchCommand {
  return { command: python, args: ['-u', join(packageRoot(), 'src', 'replica', 'python', 'server.py')] };
}

/** What every replica process gets from the platform's own environment. */
export function baseEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LANG: process.env.LANG ?? 'C.UTF-8',
    PLINTH_PARENT_PID: String(process.pid),
  };
}

export function launchCommand(spec: ReplicaSpec): LaunchCommand {
  if (spec.language === 'typescript') return nodeReplicaCommand();
  if (!spec.envDir) throw new Error(`Python replica ${spec.replicaId} has no environment`);
  return pythonReplicaCommand(join(spec.envDir, 'bin', 'python'));
}

/** Starts a replica's model server at once (no standby), its output going to `paths`. */
export function spawnReplica(
  spec: ReplicaSpec,
  env: Record<string, string>,
  paths: OutputPaths,
): ChildProcess {
  const { command, args } = launchCommand(spec);
  const output = openOutput(paths);
  try {
    return spawn(command, args, { cwd: spec.appDir, stdio: ['ignore', output.out, output.err], env });
  } finally {
    output.close();
  }
}

// The standby pools of a local backend: one of Node model servers, and one per base Python
// interpreter (started once a replica has used it; a takeover adds the replica's venv to the path).
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplicaSpec } from '../backend.ts';
import { baseEnv, launchCommand, nodeReplicaCommand, pythonReplicaCommand } from './launch.ts';
import type { ReplicaFiles } from './replica-files.ts';
import { StandbyPool, startStandby } from './standby-pool.ts';
import type { Standby } from './standby-pool.ts';

export interface StandbyPoolsOptions {
  /** Pre-started Node model servers (0: none). */
  nodeStandbys: number;
  /** Pre-started Python model servers per interpreter (0: none). */
  pythonStandbys: number;
  files: ReplicaFiles;
  /** The sandbox's launcher words before each model server. */
  prefix: string[];
}

/** The interpreter a venv was made from: Python standbys run it, and add the venv at takeover. */
export function baseInterpreter(envDir: string): string {
  return realpathSync(join(envDir, 'bin', 'python'));
}

export class StandbyPools {
  private node: StandbyPool | undefined;
  private readonly python = new Map<string, StandbyPool>();

  constructor(private readonly options: StandbyPoolsOptions) {}

  /** Starts the Node pool (Python pools start with the first replica of their interpreter). */
  start(): void {
    if (!this.options.nodeStandbys) return;
    const { nodeStandbys, files, prefix } = this.options;
    this.node = new StandbyPool(nodeStandbys, nodeReplicaCommand, baseEnv, files, prefix);
    this.node.fill();
  }

  /** The pool a replica of this spec can be taken from, if any. */
  for(spec: ReplicaSpec): StandbyPool | undefined {
    if (spec.language === 'typescript') return this.node;
    if (!this.options.pythonStandbys || !spec.envDir) return undefined;
    let interpreter: string;
    try {
      interpreter = baseInterpreter(spec.envDir);
    } catch {
      return undefined;
    }
    let pool = this.python.get(interpreter);
    if (!pool) {
      const { pythonStandbys, files, prefix } = this.options;
      pool = new StandbyPool(pythonStandbys, () => pythonReplicaCommand(interpreter), baseEnv, files, prefix);
      pool.fill();
      this.python.set(interpreter, pool);
    }
    return pool;
  }

  /** A model server started for one replica only, waiting like a standby (so that it can be confined first). */
  fresh(spec: ReplicaSpec): Standby {
    // As ever, a Python replica without an environment is refused here; one whose venv is gone
    // fails to start, naming it.
    const own = launchCommand(spec);
    const launch =
      spec.language === 'typescript'
        ? nodeReplicaCommand()
        : existsSync(own.command)
          ? // The venv's base interpreter: the venv (whose .pth files run code) is added once confined.
            pythonReplicaCommand(baseInterpreter(spec.envDir!))
          : own;
    return startStandby(launch, this.options.prefix, baseEnv(), this.options.files);
  }

  close(): void {
    this.node?.close();
    for (const pool of this.python.values()) pool.close();
  }
}

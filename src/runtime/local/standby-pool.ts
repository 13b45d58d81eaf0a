// Pre-started model-server processes: booted and waiting on stdin, so that a replica start (a cold
// start, a wake) takes one over and pays only for the model's own import and load(). Each writes
// its output to files of its own from the start, which the replica it becomes keeps.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { LaunchCommand } from './launch.ts';
import { openOutput } from './replica-files.ts';
import type { ReplicaFiles } from './replica-files.ts';

export interface Standby {
  child: ChildProcess;
  /** The name its output files carry in the replica directory. */
  name: string;
}

export class StandbyPool {
  private readonly idle: (Standby & { onExit: () => void })[] = [];
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly command: () => LaunchCommand,
    private readonly baseEnv: () => Record<string, string>,
    private readonly files: ReplicaFiles,
  ) {}

  /** Starts standbys until the pool is full. */
  fill(): void {
    while (!this.closed && this.idle.length < this.size) {
      const { command, args } = this.command();
      const name = `standby-${randomBytes(6).toString('hex')}`;
      const output = openOutput(this.files.output(name));
      const child = spawn(command, args, {
        stdio: ['pipe', output.out, output.err],
        env: { ...this.baseEnv(), PLINTH_STANDBY: '1' },
      });
      output.close();
      const entry = {
        child,
        name,
        onExit: () => {
          const i = this.idle.indexOf(entry);
          if (i !== -1) this.idle.splice(i, 1);
          this.files.remove(name);
        },
      };
      child.once('exit', entry.onExit);
      child.once('error', entry.onExit);
      this.idle.push(entry);
    }
  }

  /** Hands a standby its replica's environment and directory; undefined when none is ready. */
  take(env: Record<string, string>, cwd: string): Standby | undefined {
    let entry = this.idle.shift();
    while (entry && (entry.child.exitCode !== null || entry.child.killed)) entry = this.idle.shift();
    if (!entry) return undefined;
    entry.child.off('exit', entry.onExit);
    entry.child.off('error', entry.onExit);
    entry.child.stdin!.write(JSON.stringify({ env, cwd }) + '\n');
    setImmediate(() => this.fill());
    return { child: entry.child, name: entry.name };
  }

  close(): void {
    this.closed = true;
    for (const { child } of this.idle.splice(0)) child.kill('SIGKILL');
  }
}

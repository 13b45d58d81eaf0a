// Pre-started Node model-server processes: booted and waiting on stdin, so that a replica start
// (a cold start, a wake) takes one over and pays only for the model's own import and load().
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { LaunchCommand } from './launch.ts';

export class StandbyPool {
  private readonly idle: { child: ChildProcess; onExit: () => void }[] = [];
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly command: () => LaunchCommand,
    private readonly baseEnv: () => Record<string, string>,
  ) {}

  /** Starts standbys until the pool is full. */
  fill(): void {
    while (!this.closed && this.idle.length < this.size) {
      const { command, args } = this.command();
      const child = spawn(command, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...this.baseEnv(), PLINTH_STANDBY: '1' },
      });
      const entry = {
        child,
        onExit: () => {
          const i = this.idle.indexOf(entry);
          if (i !== -1) this.idle.splice(i, 1);
        },
      };
      child.once('exit', entry.onExit);
      child.once('error', entry.onExit);
      this.idle.push(entry);
    }
  }

  /** Hands a standby its replica's environment and directory; undefined when none is ready. */
  take(env: Record<string, string>, cwd: string): ChildProcess | undefined {
    let entry = this.idle.shift();
    while (entry && (entry.child.exitCode !== null || entry.child.killed)) entry = this.idle.shift();
    if (!entry) return undefined;
    entry.child.off('exit', entry.onExit);
    entry.child.stdin!.write(JSON.stringify({ env, cwd }) + '\n');
    setImmediate(() => this.fill());
    return entry.child;
  }

  close(): void {
    this.closed = true;
    for (const { child } of this.idle.splice(0)) child.kill('SIGKILL');
  }
}

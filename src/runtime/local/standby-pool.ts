// Pre-started model-server processes: booted and waiting on stdin, so that a replica start (a cold
// start, a wake) takes one over and pays only for the model's own import and load(). Each writes
// its output to files of its own from the start, which the replica it becomes keeps. A standby
// says on descriptor 3 when it is up (and so in its own namespaces, when it was started in some):
// a confined replica is prepared only then, and handed its replica after that.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { LaunchCommand } from './launch.ts';
import { openOutput } from './replica-files.ts';
import type { ReplicaFiles } from './replica-files.ts';

export interface Standby {
  child: ChildProcess;
  /** The name its output files carry in the replica directory. */
  name: string;
  /** The interpreter it runs (node, or a base Python). */
  interpreter: string;
  /** Resolves once it is up and waiting for its replica; rejects if it ends first. */
  booted: Promise<void>;
}

const BOOTED_FD = 3;
const RETRY_MS = 1000;

/** Starts one waiting model server: `prefix` (the sandbox's launcher) before its own command. */
export function startStandby(
  launch: LaunchCommand,
  prefix: string[],
  env: Record<string, string>,
  files: ReplicaFiles,
  /** A process group of its own (a custom server and the workers it starts). */
  detached = false,
): Standby {
  const name = `standby-${randomBytes(6).toString('hex')}`;
  const output = openOutput(files.output(name));
  try {
    // It opens its parent file as it boots, while it still may, and keeps it as the replica it becomes.
    files.writeParent(name, process.pid);
  } catch (err) {
    output.close();
    files.remove(name);
    throw err;
  }
  const [command, ...args] = [...prefix, launch.command, ...launch.args];
  const child = spawn(command!, args, {
    stdio: ['pipe', output.out, output.err, 'pipe'],
    env: {
      ...env,
      PLINTH_STANDBY: '1',
      PLINTH_STANDBY_BOOTED_FD: String(BOOTED_FD),
      PLINTH_PARENT_FILE: files.parentFile(name),
    },
    // A waiting process holds on to nothing of the server's: not even its working directory.
    ...(prefix.length ? { cwd: '/' } : {}),
    detached,
  });
  output.close();
  const signal = child.stdio[BOOTED_FD] as Readable | null;
  // A standby that died just before its hand-over is written to: its exit reports it, and the
  // write's EPIPE must not end the server.
  child.stdin?.on('error', () => undefined);
  const booted = new Promise<void>((resolve, reject) => {
    const ended = (): void => reject(new Error('the model server ended before it was up'));
    child.once('exit', ended);
    child.once('error', ended);
    signal?.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('booted')) return;
      child.off('exit', ended);
      child.off('error', ended);
      signal.destroy();
      resolve();
    });
  });
  // Nobody may be waiting for it (an idle standby that ends): that is not an unhandled failure.
  booted.catch(() => undefined);
  return { child, name, interpreter: launch.command, booted };
}

/** Hands a standby its replica's environment and directory: it becomes that replica. */
export function handOver(standby: Standby, env: Record<string, string>, cwd: string): void {
  standby.child.stdin!.write(JSON.stringify({ env, cwd }) + '\n');
}

export class StandbyPool {
  private readonly idle: (Standby & { onExit: () => void })[] = [];
  private closed = false;
  /** Set while a standby could not be started (a full disk): the pool tries again a second later. */
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly size: number,
    private readonly command: () => LaunchCommand,
    private readonly baseEnv: () => Record<string, string>,
    private readonly files: ReplicaFiles,
    private readonly prefix: string[] = [],
  ) {}

  /** Starts standbys until the pool is full; one that cannot be started is tried again later. */
  fill(): void {
    while (!this.closed && this.idle.length < this.size && !this.retry) {
      let standby: Standby;
      try {
        standby = startStandby(this.command(), this.prefix, this.baseEnv(), this.files);
      } catch (err) {
        console.error(`standby model servers: cannot start one (${(err as Error).message}); trying again`);
        this.refillLater();
        return;
      }
      const entry = {
        ...standby,
        onExit: () => {
          const i = this.idle.indexOf(entry);
          if (i !== -1) this.idle.splice(i, 1);
          this.files.remove(standby.name);
          // An idle standby that ended is replaced, a second later (one that cannot boot must not spin).
          this.refillLater();
        },
      };
      standby.child.once('exit', entry.onExit);
      standby.child.once('error', entry.onExit);
      this.idle.push(entry);
    }
  }

  /** A waiting standby, no longer the pool's (undefined when none is left); the pool refills. */
  take(): Standby | undefined {
    let entry = this.idle.shift();
    while (entry && (entry.child.exitCode !== null || entry.child.killed)) entry = this.idle.shift();
    if (!entry) {
      this.refillLater();
      return undefined;
    }
    entry.child.off('exit', entry.onExit);
    entry.child.off('error', entry.onExit);
    setImmediate(() => this.fill());
    const { onExit: _onExit, ...standby } = entry;
    return standby;
  }

  /** How many standbys wait (for tests). */
  waiting(): number {
    return this.idle.length;
  }

  /** The standby the next take() would get, left in the pool (for tests). */
  peek(): Standby | undefined {
    return this.idle[0];
  }

  /** Fills the pool a second from now (once: a refill already planned stands). */
  private refillLater(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.fill();
    }, RETRY_MS);
    this.retry.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    for (const { child } of this.idle.splice(0)) child.kill('SIGKILL');
  }
}

// Runs a build command, passing each output line on as it comes, and keeps the tail for errors.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface CommandResult {
  code: number | null;
  /** The last lines of combined output, for error messages. */
  tail: string[];
}

export function runCommand(
  command: string,
  args: string[],
  options: {
    cwd: string;
    env?: NodeJS.ProcessEnv;
    onLine: (line: string, stream: 'stdout' | 'stderr') => void;
    /** Told the command's pid once it runs (to find it again if this process dies). */
    onSpawn?: (pid: number) => void;
  },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const tail: string[] = [];
    const keep = (line: string): void => {
      tail.push(line);
      if (tail.length > 200) tail.shift();
    };
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) {
      try {
        options.onSpawn?.(child.pid);
      } catch (err) {
        // Its pid could not be noted (a full disk): it must not run on unseen, unread and unowned.
        child.kill('SIGKILL');
        keep(`could not note the process: ${(err as Error).message}`);
      }
    }
    let open = 2;
    let exitCode: number | null = null;
    let exited = false;
    const finish = (): void => {
      if (open === 0 && exited) resolve({ code: exitCode, tail });
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const rl = createInterface({ input: child[stream] });
      rl.on('line', (line) => {
        keep(line);
        options.onLine(line, stream);
      });
      rl.on('close', () => {
        open--;
        finish();
      });
    }
    child.on('error', (err) => {
      keep(`could not run ${command}: ${err.message}`);
      exitCode = -1;
      exited = true;
      open = 0;
      finish();
    });
    child.on('exit', (code) => {
      exitCode = code;
      exited = true;
      finish();
    });
  });
}

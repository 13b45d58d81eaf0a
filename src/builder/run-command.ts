// Runs a build command, passing each output line on as it comes, and keeps the tail for errors.
// Memory stays bounded whatever the command prints: a line longer than MAX_LINE_CHARS is cut (the
// rest of it is skipped up to its newline), and only the last TAIL_LINES lines are kept. With a
// time limit, the command and everything it started (its process group) is killed when it is over.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';

export interface CommandResult {
  code: number | null;
  /** The last lines of combined output, for error messages. */
  tail: string[];
  /** Set when the command was killed for running past `timeoutMs`. */
  timedOut?: boolean;
}

/** The longest output line passed on; the rest of a longer line is dropped. */
export const MAX_LINE_CHARS = 8192;
const TAIL_LINES = 200;
/** How long a command's pipes may stay open after it exited (held by a child that left its group). */
const PIPE_GRACE_MS = 2000;

/** Splits a stream of text into lines, cutting any line longer than MAX_LINE_CHARS. */
function lineSplitter(onLine: (line: string) => void): { push(text: string): void; end(): void } {
  let current = '';
  let skipping = false;
  return {
    push(text: string): void {
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        const piece = text.slice(start, nl === -1 ? text.length : nl);
        if (!skipping) {
          const room = MAX_LINE_CHARS - current.length;
          if (piece.length > room) {
            onLine(`${current}${piece.slice(0, room)} … (line cut at ${MAX_LINE_CHARS} characters)`);
            current = '';
            skipping = true;
          } else current += piece;
        }
        if (nl === -1) return;
        if (!skipping) onLine(current.replace(/\r$/, ''));
        current = '';
        skipping = false;
        start = nl + 1;
      }
    },
    end(): void {
      if (!skipping && current) onLine(current.replace(/\r$/, ''));
      current = '';
    },
  };
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
    /** Kills the command (and its children) after this long; no limit when absent. */
    timeoutMs?: number;
  },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const tail: string[] = [];
    const keep = (line: string): void => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    };
    const limited = options.timeoutMs !== undefined;
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a time limit ends what it started too (sh -c 'a && b').
      detached: limited,
    });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(limited ? -child.pid : child.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    };
    if (child.pid !== undefined) {
      try {
        options.onSpawn?.(child.pid);
      } catch (err) {
        // Its pid could not be noted (a full disk): it must not run on unseen, unread and unowned.
        killGroup();
        keep(`could not note the process: ${(err as Error).message}`);
      }
    }
    let timedOut = false;
    const timer = limited
      ? setTimeout(() => {
          timedOut = true;
          keep(`killed after ${Math.round(options.timeoutMs! / 1000)} s (the time limit)`);
          killGroup();
        }, options.timeoutMs)
      : undefined;
    let open = 2;
    let exitCode: number | null = null;
    let exited = false;
    const finish = (): void => {
      if (open !== 0 || !exited) return;
      clearTimeout(timer);
      resolve({ code: exitCode, tail, ...(timedOut ? { timedOut } : {}) });
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const decoder = new StringDecoder('utf8');
      const lines = lineSplitter((line) => {
        keep(line);
        options.onLine(line, stream);
      });
      child[stream].on('data', (chunk: Buffer) => lines.push(decoder.write(chunk)));
      child[stream].on('close', () => {
        lines.push(decoder.end());
        lines.end();
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
      // A child it left behind may hold its pipes open: with a time limit, the group goes too, and
      // one that left the group (setsid) is not waited for past a short grace.
      if (limited) {
        killGroup();
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, PIPE_GRACE_MS).unref();
      }
      finish();
    });
  });
}

// A replica's operating-system process as the local backend sees it: one it started (a child,
// whose exit status it learns) or one it adopted from a server that died (not its child: its end
// is noticed by polling, and its exit status is unknown).
import type { ChildProcess } from 'node:child_process';
import { isSameProcess } from './replica-files.ts';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ReplicaProcess {
  readonly pid: number | undefined;
  /** Whether the backend started it (and so knows its exit status). */
  readonly isChild: boolean;
  readonly exited: Promise<ProcessExit>;
  hasExited(): boolean;
  kill(signal: NodeJS.Signals): void;
}

const ADOPTED_POLL_MS = 200;

/** Signals a process group (`pid` leads it); a group already gone is no error. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** `group`: the child leads a process group (a custom server and its workers), signalled whole. */
export function childReplicaProcess(
  child: ChildProcess,
  onError: (err: Error) => void,
  group = false,
): ReplicaProcess {
  let done = false;
  const exited = new Promise<ProcessExit>((resolve) => {
    const end = (code: number | null, signal: NodeJS.Signals | null): void => {
      done = true;
      resolve({ code, signal });
    };
    // A process that could not be started reports 'close' only.
    child.once('exit', end);
    child.once('close', end);
  });
  child.once('error', onError);
  return {
    pid: child.pid,
    isChild: true,
    exited,
    hasExited: () => done,
    kill: (signal) => {
      if (group && child.pid !== undefined && child.exitCode === null) killGroup(child.pid, signal);
      else child.kill(signal);
    },
  };
}

export function adoptedReplicaProcess(pid: number, start: number | null, group = false): ReplicaProcess {
  let done = false;
  const exited = new Promise<ProcessExit>((resolve) => {
    const timer = setInterval(() => {
      if (isSameProcess(pid, start)) return;
      clearInterval(timer);
      done = true;
      resolve({ code: null, signal: null });
    }, ADOPTED_POLL_MS);
  });
  return {
    pid,
    isChild: false,
    exited,
    hasExited: () => done,
    kill(signal) {
      // Never signal a pid that now belongs to another process.
      if (!done && isSameProcess(pid, start)) {
        if (group) killGroup(pid, signal);
        else process.kill(pid, signal);
      }
    },
  };
}

// Finding what a run leaves behind (invariant 5): processes it started, by their environment
// (a replica carries PLINTH_PARENT_PID of the server that started it) or their working directory
// (a replica runs in its app directory under the home), and ports that still listen.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';

/** Whether `pid` is a process of the run (so the run may signal it): started by it, or under its home. */
export function isRunProcess(pid: number, platformPids: ReadonlySet<number>, home: string): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const parent = environ.find((v) => v.startsWith('PLINTH_PARENT_PID='));
    if (parent !== undefined && platformPids.has(Number(parent.split('=')[1]))) return true;
    return readlinkSync(`/proc/${pid}/cwd`).startsWith(home + '/');
  } catch {
    return false;
  }
}

/** Live processes started by one of `platformPids` or running under `home` (not the platform's own). */
export function processesOfRun(platformPids: ReadonlySet<number>, home: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || platformPids.has(pid)) continue;
    if (isRunProcess(pid, platformPids, home) && !isZombie(pid)) found.push(pid);
  }
  return found;
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch {
    return false;
  }
}

/** Whether something accepts connections on 127.0.0.1:`port` (half a second to say). */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (listening: boolean): void => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resident memory of a process in bytes (VmRSS), or null when it is gone. */
export function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

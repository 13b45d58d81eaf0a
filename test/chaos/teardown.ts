// Ending whatever a run left, however it ended: every process it started (replicas included,
// stopped ones woken first so that nothing waits on them), found the way the orphan check finds them.
import { processesOfRun } from './orphans.ts';
import { sleep } from '../support/wait.ts';

export async function killRunProcesses(platformPids: ReadonlySet<number>, home: string): Promise<number[]> {
  const found = processesOfRun(platformPids, home);
  // The platform processes themselves are ended through their child handles, never by a pid that
  // may have been reused since.
  for (const pid of found) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (found.length > 0) await sleep(200);
  return found;
}

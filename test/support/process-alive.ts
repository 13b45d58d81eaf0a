// Whether a process is alive (signal 0 reaches it): what tests of replica processes check.
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A process's resident memory, from /proc (Linux): what a memory bound in a test is checked against.
import { readFileSync } from 'node:fs';

export function residentBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

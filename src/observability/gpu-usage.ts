// GPU utilisation and memory in use per device, from `nvidia-smi` (when the host has it).
import { execFile } from 'node:child_process';

export const GPU_USAGE_QUERY = [
  '--query-gpu=index,utilization.gpu,memory.used',
  '--format=csv,noheader,nounits',
];

export interface GpuUsage {
  /** 0–1. */
  utilization: number;
  memoryBytes: number;
}

/** Parses `nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits`. */
export function parseGpuUsage(output: string): Map<number, GpuUsage> {
  const usage = new Map<number, GpuUsage>();
  for (const line of output.split('\n')) {
    const [index, util, memMiB] = line.split(',').map((f) => f.trim());
    if (!index || !/^\d+$/.test(index)) continue;
    const utilization = Number(util) / 100;
    const memoryBytes = Number(memMiB) * 1024 ** 2;
    if (Number.isFinite(utilization) && Number.isFinite(memoryBytes))
      usage.set(Number(index), { utilization, memoryBytes });
  }
  return usage;
}

/** Usage of every GPU, or null when nvidia-smi is missing or fails. */
export function readGpuUsage(command = 'nvidia-smi'): Promise<Map<number, GpuUsage> | null> {
  return new Promise((resolve) => {
    execFile(command, GPU_USAGE_QUERY, { timeout: 5000 }, (err, stdout) =>
      resolve(err ? null : parseGpuUsage(stdout)),
    );
  });
}

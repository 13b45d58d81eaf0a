// What this machine offers replicas: CPUs and memory of the host (the container's memory limit
// when lower), GPUs as `nvidia-smi` lists them, or what `plinth up --capacity` says instead
// (`cpu=8,memory=32Gi,gpu=H100:2`, `gpu=` repeatable for mixed kinds) so that GPU placement can be
// exercised on a machine without one.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { ACCELERATOR_KINDS } from '../../domain/accelerators.ts';
import { PlinthError } from '../../domain/errors.ts';
import { parseAccelerator, parseCpu, parseMemory } from '../../domain/quantity.ts';
import type { Capacity } from '../backend.ts';

export const NVIDIA_SMI_QUERY = ['--query-gpu=index,name,memory.total,uuid', '--format=csv,noheader,nounits'];

/** The catalog's kinds as words of a product name (`RTX_PRO_6000` → "RTX PRO 6000"), longest first. */
const KNOWN_KINDS = ACCELERATOR_KINDS.map((k) => k.kind)
  .filter((k) => !k.endsWith('_40GB'))
  .sort((a, b) => b.length - a.length);

/** Below this (MiB), an A100 or H100 is the catalog's 40 GB kind (an A100 40GB, an H100 MIG half). */
const FORTY_GB_MIB = 60 * 1024;

/**
 * The catalog's kind of a GPU from its product name and memory (nvidia-smi's `name`,
 * `memory.total`); an unknown product is named by its first word.
 */
export function gpuKindOf(productName: string, memoryMiB?: number): string {
  const upper = productName.toUpperCase();
  const known = KNOWN_KINDS.find((k) =>
    new RegExp(`(^|[^A-Z0-9])${k.replace(/_/g, '[ _-]')}([^A-Z0-9]|$)`).test(upper),
  );
  if (known) {
    const small = memoryMiB !== undefined && memoryMiB < FORTY_GB_MIB;
    return small && (known === 'A100' || known === 'H100') ? `${known}_40GB` : known;
  }
  const words = upper.replace(/^(NVIDIA|TESLA)\s+/, '').split(/[\s-]+/);
  return (words[0] ?? 'GPU').replace(/[^A-Z0-9_]/g, '') || 'GPU';
}

/** Parses `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(output: string): Capacity['gpus'] {
  const gpus: Capacity['gpus'] = [];
  for (const line of output.split('\n')) {
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length < 2 || !/^\d+$/.test(fields[0]!)) continue;
    const memoryMiB = fields[2] && /^\d+$/.test(fields[2]) ? Number(fields[2]) : undefined;
    gpus.push({ index: Number(fields[0]), kind: gpuKindOf(fields[1]!, memoryMiB) });
  }
  return gpus;
}

/** GPUs from nvidia-smi; none when it is missing or has no driver to talk to. */
export function discoverGpus(command = 'nvidia-smi'): Promise<Capacity['gpus']> {
  return new Promise((resolve) => {
    execFile(command, NVIDIA_SMI_QUERY, { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? [] : parseNvidiaSmi(stdout));
    });
  });
}

/** The memory this process may use: the host's, or the container's cgroup limit when lower. */
export function hostMemoryBytes(): number {
  let limit = Infinity;
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    if (!existsSync(file)) continue;
    const value = Number(readFileSync(file, 'utf8').trim());
    if (Number.isFinite(value) && value > 0) limit = Math.min(limit, value);
  }
  return Math.min(totalmem(), limit);
}

export async function detectCapacity(nvidiaSmi?: string): Promise<Capacity> {
  return {
    cpu: availableParallelism(),
    memoryBytes: hostMemoryBytes(),
    gpus: await discoverGpus(nvidiaSmi),
  };
}

/** Applies `--capacity cpu=8,memory=32Gi,gpu=H100:2[,gpu=L4:1]` over what was detected. */
export function applyCapacityOverride(detected: Capacity, text: string): Capacity {
  const out: Capacity = { ...detected };
  let gpus: Capacity['gpus'] | null = null;
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, value] = part.split('=', 2) as [string, string | undefined];
    const fail = (why: string): never => {
      throw new PlinthError('VALIDATION_ERROR', `--capacity ${part}: ${why}`);
    };
    if (!value) fail('expected key=value (cpu=8, memory=32Gi, gpu=H100:2)');
    try {
      if (key === 'cpu') out.cpu = parseCpu(value!, 'cpu') / 1000;
      else if (key === 'memory') out.memoryBytes = parseMemory(value!, 'memory');
      else if (key === 'gpu' && value === 'none') gpus = [];
      else if (key === 'gpu') {
        gpus ??= [];
        const { kind, count } = parseAccelerator(value!, 'gpu');
        for (let i = 0; i < count; i++) gpus.push({ index: gpus.length, kind });
      } else fail(`unknown key "${key}"; use cpu, memory or gpu`);
    } catch (err) {
      if (err instanceof PlinthError && !err.message.startsWith('--capacity')) fail(err.message);
      throw err;
    }
  }
  if (gpus) out.gpus = gpus;
  return out;
}

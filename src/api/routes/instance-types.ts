// GET /v1/instance_types: the catalog (built-in types and the home's instance_types.yaml), with
// the hosted platforms' field names (`millicpu_limit`, `memory_limit_mib`, `gpu_*`) beside ours.
import type { FastifyInstance } from 'fastify';
import { gpuMemoryBytesOf } from '../../domain/accelerators.ts';
import { formatCpu, formatMemory } from '../../domain/quantity.ts';
import type { ApiContext } from '../context.ts';

export function instanceTypeRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/instance_types', { config: { summary: 'List instance types' } }, async () => ({
    instance_types: ctx.instanceTypes.map((t) => ({
      name: t.name,
      cpu: formatCpu(t.cpuMillis),
      memory: formatMemory(t.memoryBytes),
      memory_bytes: t.memoryBytes,
      accelerator: t.accelerator ? `${t.accelerator.kind}:${t.accelerator.count}` : null,
      gpu_count: t.accelerator?.count ?? 0,
      gpu_type: t.accelerator?.kind ?? null,
      gpu_memory_limit_mib: gpuMemoryMib(t.accelerator),
      millicpu_limit: t.cpuMillis,
      memory_limit_mib: Math.floor(t.memoryBytes / MiB),
      price_per_hour: t.pricePerHour,
    })),
  }));
}

const MiB = 1024 ** 2;

/** All the GPUs' memory; null when there are none or their kind is not in the catalog. */
function gpuMemoryMib(accelerator: { kind: string; count: number } | null): number | null {
  const bytes = accelerator && gpuMemoryBytesOf(accelerator.kind, accelerator.count);
  return bytes ? bytes / MiB : null;
}

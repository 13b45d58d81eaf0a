// GET /v1/instance_types: the catalog (built-in types and the home's instance_types.yaml), with
// the hosted platforms' field names (`millicpu_limit`, `memory_limit_mib`, `gpu_*`) beside ours.
// GET /v1/instance_type_prices: each type's list price, in the hosted platforms' shape
// (`{instance_types: [{instance_type: {…}, price}]}`, `price` in USD per minute) with ours beside it.
import type { FastifyInstance } from 'fastify';
import { gpuMemoryBytesOf } from '../../domain/accelerators.ts';
import type { InstanceType } from '../../domain/instance-types.ts';
import { formatCpu, formatMemory } from '../../domain/quantity.ts';
import type { ApiContext } from '../context.ts';

export function instanceTypeRoutes(app: FastifyInstance, ctx: Pick<ApiContext, 'instanceTypes'>): void {
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

  app.get('/v1/instance_type_prices', { config: { summary: 'Prices of the instance types' } }, async () => ({
    instance_types: ctx.instanceTypes.map(priceJson),
  }));
}

const MiB = 1024 ** 2;

/** All the GPUs' memory; null when there are none or their kind is not in the catalog. */
function gpuMemoryMib(accelerator: { kind: string; count: number } | null): number | null {
  const bytes = accelerator && gpuMemoryBytesOf(accelerator.kind, accelerator.count);
  return bytes ? bytes / MiB : null;
}

/**
 * One type's price: `instance_type` and `price` (USD per minute) as hosted platforms answer them,
 * `instance_type_name` and `price_per_hour_usd` beside; the prices are null when the catalog has none.
 */
function priceJson(t: InstanceType) {
  return {
    instance_type: {
      id: t.name,
      name: t.name,
      memory_limit_mib: Math.floor(t.memoryBytes / MiB),
      millicpu_limit: t.cpuMillis,
      gpu_count: t.accelerator?.count ?? 0,
      gpu_type: t.accelerator?.kind ?? null,
      gpu_memory_limit_mib: gpuMemoryMib(t.accelerator),
    },
    price: t.pricePerHour === null ? null : Math.round((t.pricePerHour / 60) * 1e6) / 1e6,
    instance_type_name: t.name,
    price_per_hour_usd: t.pricePerHour,
  };
}

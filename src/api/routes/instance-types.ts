// GET /v1/instance_types: the catalog (built-in types and the home's instance_types.yaml).
import type { FastifyInstance } from 'fastify';
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
      price_per_hour: t.pricePerHour,
    })),
  }));
}

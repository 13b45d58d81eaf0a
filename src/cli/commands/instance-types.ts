// `plinth instance-types`: the catalog a deployment's `resources` resolve against.
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { printJson, printTable } from '../output.ts';

interface InstanceTypeInfo {
  name: string;
  cpu: string;
  memory: string;
  accelerator: string | null;
  gpu_memory_limit_mib?: number | null;
  price_per_hour: number | null;
}

export function registerInstanceTypes(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('instance-types')
    .description('List instance types (CPU, memory, GPUs) a deployment can run on')
    .option('--output <format>', 'text or json', 'text')
    .action((options: { output?: string }) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const { instance_types } = await client.request<{ instance_types: InstanceTypeInfo[] }>(
          'GET',
          '/v1/instance_types',
        );
        if (options.output === 'json') return printJson({ instance_types });
        printTable(
          ['NAME', 'CPU', 'MEMORY', 'GPU', 'GPU MEMORY', '$/HOUR'],
          instance_types.map((t) => [
            t.name,
            t.cpu,
            t.memory,
            t.accelerator ?? '-',
            t.gpu_memory_limit_mib ? `${t.gpu_memory_limit_mib / 1024}Gi` : '-',
            t.price_per_hour === null ? '-' : t.price_per_hour.toFixed(2),
          ]),
        );
      }, options.output === 'json'),
    );
}

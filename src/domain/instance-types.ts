// Instance types: named CPU, memory and accelerator sizes in the style hosted platforms use
// (`1x2` = 1 CPU, 2 GiB; `L4:4x16` = one L4 with 4 CPUs, 16 GiB; `H100x2:52x468` = two H100s),
// and how a config's `resources` resolves to the smallest one that satisfies it. Pure.
import { ACCELERATOR_KINDS } from './accelerators.ts';
import type { AcceleratorKind } from './accelerators.ts';
import { PlinthError } from './errors.ts';
import { formatCpu, formatMemory, parseAccelerator, parseCpu, parseMemory } from './quantity.ts';
import type { Accelerator } from './quantity.ts';

export interface InstanceType {
  name: string;
  cpuMillis: number;
  memoryBytes: number;
  accelerator: Accelerator | null;
  /** List price in USD per hour, to compare what replicas cost; null when unknown. */
  pricePerHour: number | null;
}

/** What a config asks for (config.yaml `resources`). */
export interface ResourceRequest {
  cpu?: string;
  memory?: string;
  accelerator?: string | null;
  use_gpu?: boolean;
  instance_type?: string;
}

const GiB = 1024 ** 3;

function cpuType(cpus: number, memGi: number): InstanceType {
  return {
    name: `${cpus}x${memGi}`,
    cpuMillis: cpus * 1000,
    memoryBytes: memGi * GiB,
    accelerator: null,
    pricePerHour: Math.round((cpus * 0.04 + memGi * 0.005) * 1000) / 1000,
  };
}

function gpuType(per: AcceleratorKind, count: number): InstanceType {
  const cpus = per.cpusPerGpu * count;
  const memGi = per.memoryGiPerGpu * count;
  return {
    name: `${count === 1 ? per.kind : `${per.kind}x${count}`}:${cpus}x${memGi}`,
    cpuMillis: cpus * 1000,
    memoryBytes: memGi * GiB,
    accelerator: { kind: per.kind, count },
    pricePerHour: Math.round(per.pricePerGpuHour * count * 1000) / 1000,
  };
}

export const BUILT_IN_INSTANCE_TYPES: readonly InstanceType[] = [
  ...(
    [
      [1, 2],
      [1, 4],
      [2, 8],
      [4, 16],
      [8, 32],
      [16, 64],
      [32, 128],
    ] as const
  ).map(([c, m]) => cpuType(c, m)),
  ...ACCELERATOR_KINDS.flatMap((kind) => [1, 2, 4, 8].map((n) => gpuType(kind, n))),
];

/** Built-in types with those of the home's file added, a same-named one replacing the built-in. */
export function mergeCatalog(
  builtIn: readonly InstanceType[],
  extra: readonly InstanceType[],
): InstanceType[] {
  const byName = new Map(builtIn.map((t) => [t.name, t]));
  for (const t of extra) byName.set(t.name, t);
  return [...byName.values()];
}

function invalid(message: string): PlinthError {
  return new PlinthError('INVALID_CONFIG', `config.yaml resources: ${message}`);
}

/** Orders types from the smallest: fewest GPUs, then CPUs, then memory. */
function smallestFirst(a: InstanceType, b: InstanceType): number {
  return (
    (a.accelerator?.count ?? 0) - (b.accelerator?.count ?? 0) ||
    a.cpuMillis - b.cpuMillis ||
    a.memoryBytes - b.memoryBytes
  );
}

export function findInstanceType(catalog: readonly InstanceType[], name: string): InstanceType | undefined {
  return (
    catalog.find((t) => t.name === name) ?? catalog.find((t) => t.name.toLowerCase() === name.toLowerCase())
  );
}

/**
 * The instance type a config asks for: its `instance_type` by name, else the smallest type with at
 * least its cpu and memory and exactly its accelerator kind (a CPU-only request gets a CPU-only type).
 */
export function resolveInstanceType(
  request: ResourceRequest,
  catalog: readonly InstanceType[],
): InstanceType {
  if (request.instance_type) {
    const found = findInstanceType(catalog, request.instance_type);
    if (!found) {
      throw invalid(
        `instance_type "${request.instance_type}" is not a known instance type (see \`plinth instance-types\`)`,
      );
    }
    return found;
  }
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw err instanceof PlinthError ? invalid(err.message) : err;
    }
  };
  const cpu = request.cpu === undefined ? 0 : wrap(() => parseCpu(request.cpu!, 'cpu'));
  const memory = request.memory === undefined ? 0 : wrap(() => parseMemory(request.memory!, 'memory'));
  const accelerator = request.accelerator
    ? wrap(() => parseAccelerator(request.accelerator!, 'accelerator'))
    : null;
  if (request.use_gpu && !accelerator) {
    throw invalid('use_gpu is true but no accelerator says which GPU (for example accelerator: "L4")');
  }
  const fits = catalog
    .filter((t) =>
      accelerator
        ? t.accelerator?.kind === accelerator.kind && t.accelerator.count >= accelerator.count
        : t.accelerator === null,
    )
    .filter((t) => t.cpuMillis >= cpu && t.memoryBytes >= memory)
    .sort(smallestFirst);
  if (fits[0]) return fits[0];
  const wanted = [
    accelerator ? `${accelerator.count}× ${accelerator.kind}` : null,
    cpu ? `${formatCpu(cpu)} CPU` : null,
    memory ? `${formatMemory(memory)} memory` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const kinds = [...new Set(catalog.flatMap((t) => (t.accelerator ? [t.accelerator.kind] : [])))].sort();
  const hint =
    accelerator && !kinds.includes(accelerator.kind)
      ? `no instance type has a ${accelerator.kind}; GPU kinds: ${kinds.join(', ')}`
      : 'no instance type is that large';
  throw invalid(`${hint} (asked for ${wanted})`);
}

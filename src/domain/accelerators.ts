// The GPU kinds a config's `resources.accelerator` may name: every kind Truss accepts, each with
// its memory, the CPUs and host memory an instance gives each GPU, and an indicative list price in
// USD per GPU-hour (what replicas cost, to compare; `<home>/instance_types.yaml` may set others).
// Pure data and lookups.

export interface AcceleratorKind {
  /** As Truss spells it in config.yaml (`A100_40GB`). */
  kind: string;
  /** Memory of one GPU, GiB. */
  gpuMemoryGiB: number;
  /** CPUs and host memory (GiB) an instance gives per GPU. */
  cpusPerGpu: number;
  memoryGiPerGpu: number;
  /** USD per GPU-hour. */
  pricePerGpuHour: number;
}

const kind = (
  name: string,
  gpuMemoryGiB: number,
  cpusPerGpu: number,
  memoryGiPerGpu: number,
  pricePerGpuHour: number,
): AcceleratorKind => ({ kind: name, gpuMemoryGiB, cpusPerGpu, memoryGiPerGpu, pricePerGpuHour });

/** Truss's `Accelerator` enum, in its order. */
export const ACCELERATOR_KINDS: readonly AcceleratorKind[] = [
  kind('B10', 128, 8, 64, 2.5),
  kind('T4', 16, 4, 16, 0.6),
  kind('L4', 24, 4, 16, 0.85),
  kind('A10G', 24, 4, 16, 1.2),
  kind('V100', 16, 8, 61, 1.5),
  kind('A100', 80, 12, 144, 4),
  kind('A100_40GB', 40, 12, 85, 3),
  kind('H100', 80, 26, 234, 6.5),
  kind('H200', 141, 26, 234, 8),
  kind('H100_40GB', 40, 13, 117, 3.25),
  kind('B200', 180, 28, 256, 10),
  kind('L40S', 48, 8, 64, 1.8),
  kind('RTX_PRO_6000', 96, 16, 128, 3),
];

export function acceleratorKindOf(name: string): AcceleratorKind | undefined {
  const upper = name.toUpperCase();
  return ACCELERATOR_KINDS.find((k) => k.kind === upper);
}

/** GPU memory of `count` GPUs of a kind, bytes; null for a kind outside the catalog. */
export function gpuMemoryBytesOf(name: string, count: number): number | null {
  const found = acceleratorKindOf(name);
  return found ? found.gpuMemoryGiB * count * 1024 ** 3 : null;
}

// Resource quantities as config.yaml and `--capacity` write them: CPU in cores or millicores
// ("2", "0.5", "500m"), memory in bytes with binary or decimal suffixes ("512Mi", "2Gi", "1G"),
// accelerators as kind and count ("L4", "H100:2"). Errors name the field. Pure.
import { PlinthError } from './errors.ts';

export interface Accelerator {
  kind: string;
  count: number;
}

function invalid(field: string, value: unknown, expected: string): PlinthError {
  return new PlinthError('VALIDATION_ERROR', `${field}: "${String(value)}" is not ${expected}`);
}

/** CPU → millicores. */
export function parseCpu(value: string | number, field = 'cpu'): number {
  const text = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(text);
  if (!m) throw invalid(field, value, 'a CPU quantity like "500m", "1" or "2.5"');
  const milli = m[2] === 'm' ? Number(m[1]) : Number(m[1]) * 1000;
  if (!Number.isFinite(milli) || milli <= 0 || !Number.isInteger(Math.round(milli)))
    throw invalid(field, value, 'a positive CPU quantity');
  return Math.round(milli);
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** Memory → bytes. */
export function parseMemory(value: string | number, field = 'memory'): number {
  const text = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?)?$/.exec(text);
  if (!m) throw invalid(field, value, 'a memory quantity like "512Mi", "2Gi" or "1G"');
  const bytes = Number(m[1]) * MEMORY_UNITS[m[2] ?? '']!;
  if (bytes <= 0) throw invalid(field, value, 'a positive memory quantity');
  return Math.round(bytes);
}

/** "L4" → 1× L4; "H100:2" → 2× H100. Kinds are compared in upper case. */
export function parseAccelerator(value: string, field = 'accelerator'): Accelerator {
  const m = /^([A-Za-z0-9_]+)(?::([1-9][0-9]*))?$/.exec(value.trim());
  if (!m) throw invalid(field, value, 'an accelerator like "L4" or "H100:2"');
  return { kind: m[1]!.toUpperCase(), count: m[2] ? Number(m[2]) : 1 };
}

/**
 * The largest binary unit with at least 1, whole when it is ("2Gi"), else whole in the next unit
 * when that is short ("1872Gi", "1536Mi"), else one decimal ("23.5Gi").
 */
export function formatMemory(bytes: number): string {
  const units = ['Ti', 'Gi', 'Mi', 'Ki'] as const;
  const i = units.findIndex((u) => bytes >= MEMORY_UNITS[u]!);
  if (i === -1) return `${bytes}`;
  const n = bytes / MEMORY_UNITS[units[i]!]!;
  if (Number.isInteger(n)) return `${n}${units[i]}`;
  const smaller = units[i + 1];
  if (smaller && Number.isInteger(bytes / MEMORY_UNITS[smaller]!) && bytes / MEMORY_UNITS[smaller]! < 10_000)
    return `${bytes / MEMORY_UNITS[smaller]!}${smaller}`;
  return `${n.toFixed(1)}${units[i]}`;
}

export function formatCpu(millicores: number): string {
  return millicores % 1000 === 0 ? String(millicores / 1000) : `${millicores}m`;
}

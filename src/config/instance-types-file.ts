// The Plinth home's `instance_types.yaml`: instance types added to the built-in catalog, or
// replacing built-in ones of the same name (a different price, a GPU kind of your own). Errors
// name the file and the key.
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { PlinthError } from '../domain/errors.ts';
import type { InstanceType } from '../domain/instance-types.ts';
import { parseAccelerator, parseCpu, parseMemory } from '../domain/quantity.ts';
import { describePath } from './parse.ts';

const quantity = z.union([z.string(), z.number()]).transform((v) => String(v));

const fileSchema = z.strictObject({
  instance_types: z.array(
    z.strictObject({
      name: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_.:x-]*$/, 'use letters, digits, ".", "_", ":", "x" and "-"'),
      cpu: quantity,
      memory: quantity,
      accelerator: z.string().nullable().optional(),
      price_per_hour: z.number().min(0).nullable().optional(),
    }),
  ),
});

export function readInstanceTypesFile(file: string): InstanceType[] {
  if (!existsSync(file)) return [];
  const fail = (message: string): never => {
    throw new PlinthError('INVALID_CONFIG', `${file}: ${message}`);
  };
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8')) ?? { instance_types: [] };
  } catch (err) {
    return fail(`invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = fileSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    return fail(`${describePath(issue.path)}: ${issue.message}`);
  }
  return result.data.instance_types.map((t, i) => {
    const at = `instance_types[${i}]`;
    try {
      return {
        name: t.name,
        cpuMillis: parseCpu(t.cpu, `${at}.cpu`),
        memoryBytes: parseMemory(t.memory, `${at}.memory`),
        accelerator: t.accelerator ? parseAccelerator(t.accelerator, `${at}.accelerator`) : null,
        pricePerHour: t.price_per_hour ?? null,
      };
    } catch (err) {
      return fail((err as Error).message);
    }
  });
}

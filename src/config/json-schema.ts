// The JSON Schema of config.yaml, generated from the zod schema (Truss keys we ignore are allowed).
import { z } from 'zod';
import { configSchema, IGNORED_TRUSS_KEYS } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  const properties = schema.properties as Record<string, unknown>;
  for (const [key, reason] of Object.entries(IGNORED_TRUSS_KEYS)) {
    if (!key.includes('.'))
      properties[key] = { description: `Accepted for Truss compatibility and ignored: ${reason}.` };
  }
  // Truss's older name for model_cache, read as it.
  properties.hf_cache = {
    ...(properties.model_cache as object),
    description: 'Truss: the older name of model_cache.',
  };
  return { $id: 'https://plinth.dev/schema/config.schema.json', title: 'Plinth config.yaml', ...schema };
}

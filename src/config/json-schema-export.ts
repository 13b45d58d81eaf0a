// Writes the JSON Schema of config.yaml (for editors and docs) to schema/config.schema.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from './json-schema.ts';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schema', 'config.schema.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(configJsonSchema(), null, 2) + '\n');
console.log(`wrote ${out}`);

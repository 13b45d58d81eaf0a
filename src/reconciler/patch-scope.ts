// Which config changes a development patch cannot apply in place: the ones that make a different
// deployment (another model, interpreter or instance). Everything else — code, data, requirements,
// environment variables, runtime settings — reloads. Pure.
import type { ModelConfig } from '../config/schema.ts';

const NEEDS_NEW_DEPLOYMENT = ['model_name', 'python_version', 'resources'] as const;

export function unpatchableChanges(before: ModelConfig, after: ModelConfig): string[] {
  const changed: string[] = [];
  for (const key of NEEDS_NEW_DEPLOYMENT) {
    if (key === 'resources') {
      const a = (before.resources ?? {}) as Record<string, unknown>;
      const b = (after.resources ?? {}) as Record<string, unknown>;
      for (const field of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (JSON.stringify(a[field]) !== JSON.stringify(b[field])) changed.push(`resources.${field}`);
      }
    } else if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changed.push(key);
  }
  return changed;
}

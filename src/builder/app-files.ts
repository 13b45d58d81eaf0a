// Lists the files of an extracted app directory (relative, forward slashes), skipping node_modules.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export function listAppFiles(appDir: string): Set<string> {
  const files = new Set<string>();
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(appDir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else files.add(path);
    }
  };
  walk('');
  return files;
}

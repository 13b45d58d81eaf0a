// Whether a bundle in dist/ is at least as new as every TypeScript source it was built from; a
// stale bundle is never run (the sources are, through tsx). Plain JS: bin/plinth.js needs it
// before any TypeScript loader exists.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function newestSourceMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const mtime = statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

export function isFresh(bundle, sourceDir) {
  return existsSync(bundle) && statSync(bundle).mtimeMs >= newestSourceMtimeMs(sourceDir);
}

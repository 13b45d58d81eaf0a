// A temporary directory for one test file, removed when its tests are done.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `plinth-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

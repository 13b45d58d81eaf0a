// Compiles a TypeScript/JavaScript model into one ES module next to its entry file with esbuild,
// so replicas load it with plain Node (no TypeScript loader) and syntax errors surface at build
// time with file, line and column. Packages stay external (resolved from the app's node_modules).
import { join, posix } from 'node:path';
import { build } from 'esbuild';
import type { Message } from 'esbuild';
import { BuildError } from './node-environment.ts';

export const COMPILED_MODEL_NAME = '.plinth-model.mjs';

function describe(m: Message): string {
  const where = m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ` : '';
  return `${where}${m.text}`;
}

/** Returns the compiled module's path relative to appDir. */
export async function compileNodeModel(appDir: string, entryFile: string): Promise<string> {
  const outRelative = posix.join(posix.dirname(entryFile), COMPILED_MODEL_NAME);
  try {
    await build({
      absWorkingDir: appDir,
      entryPoints: [entryFile],
      outfile: join(appDir, outRelative),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
      banner: {
        js: "import { createRequire as __plinthCreateRequire } from 'node:module'; const require = __plinthCreateRequire(import.meta.url);",
      },
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    const said =
      errors && errors.length > 0 ? errors.slice(0, 3).map(describe).join('; ') : (err as Error).message;
    throw new BuildError(`cannot compile ${entryFile}: ${said}`);
  }
  return outRelative;
}

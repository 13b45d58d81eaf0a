// Bundles the CLI/server and the Node replica's model server into dist/ with esbuild, so that
// they start without a TypeScript loader (faster, and about half the memory), and the dashboard
// with Vite. Dependencies stay external. Runs on `npm install` (prepare), before `npm start` and
// before `npm test`.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  // Bundled ESM has no require(); a few dependencies expect it.
  banner: {
    js: "import { createRequire as __plinthCreateRequire } from 'node:module'; const require = __plinthCreateRequire(import.meta.url);",
  },
};
await build({ ...common, entryPoints: [join(root, 'src/cli/main.ts')], outfile: join(root, 'dist/cli.mjs') });
await build({
  ...common,
  entryPoints: [join(root, 'src/replica/node/main.ts')],
  outfile: join(root, 'dist/replica-node.mjs'),
});
// `plinth fetch-artifacts` alone (a replica pod's init container runs it on every start).
await build({
  ...common,
  entryPoints: [join(root, 'src/cli/fetch-artifacts-main.ts')],
  outfile: join(root, 'dist/fetch-artifacts.mjs'),
});
// The config.yaml parser's worker thread (the server parses pushed configs off its event loop).
await build({
  ...common,
  entryPoints: [join(root, 'src/config/parse-worker.ts')],
  outfile: join(root, 'dist/config-worker.mjs'),
});
// The dashboard: React + uPlot, bundled by Vite into dist/dashboard (served by the API at `/`).
const { build: viteBuild } = await import('vite');
await viteBuild({ configFile: join(root, 'dashboard/vite.config.ts') });

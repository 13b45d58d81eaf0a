// The dashboard's build: React and uPlot bundled into dist/dashboard, served by the API at `/`.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: { outDir: '../dist/dashboard', emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  logLevel: 'warn',
});

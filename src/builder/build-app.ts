// Builds one extracted app directory: prepares its environment (cached per lockfile or
// requirements hash, so an unchanged environment costs nothing) and compiles a TypeScript model.
// Shared by deployment builds and development patches.
import { findModelEntry } from '../config/model-entry.ts';
import type { ModelConfig } from '../config/schema.ts';
import type { PlinthHome } from '../home.ts';
import { listAppFiles } from './app-files.ts';
import type { BuildRecord } from '../domain/types.ts';
import { compileNodeModel } from './compile-node-model.ts';
import { prepareNodeEnvironment } from './node-environment.ts';
import type { BuildLog } from './node-environment.ts';
import { preparePythonApp } from './python-base-layer.ts';
import { checkBuildSteps } from './build-steps-check.ts';

/** The step that downloads a config's weights and data into the app dir (src/weights/fetcher.ts). */
export interface WeightsStep {
  fetch(appDir: string, config: ModelConfig, log: BuildLog): Promise<void>;
}

export async function buildApp(
  appDir: string,
  config: ModelConfig,
  home: PlinthHome,
  log: BuildLog,
  weights?: WeightsStep,
): Promise<BuildRecord> {
  const entry = findModelEntry(listAppFiles(appDir), config, 'the bundle');
  log(
    entry.customServer
      ? 'building a custom server (its Python environment)'
      : `building ${entry.language} model (${entry.file})`,
  );
  await checkBuildSteps(entry.language, config, log);
  const asks =
    (config.weights?.length ?? 0) + (config.model_cache?.length ?? 0) + (config.external_data?.length ?? 0);
  if (asks > 0 && !weights)
    throw new Error('weights, model_cache and external_data need the weights downloader');
  // A Python model's venv gets Truss's base environment layered under it.
  const { envDir, baseEnvDir } =
    entry.language === 'typescript'
      ? { envDir: await prepareNodeEnvironment(appDir, home.environments, log), baseEnvDir: null }
      : await preparePythonApp(appDir, config, home, log);
  // Weights and data after the environment: what build_commands made is linked in first, and a
  // download never outlives a build whose environment failed.
  await weights?.fetch(appDir, config, log);
  const modelFile = entry.language === 'typescript' ? await compileNodeModel(appDir, entry.file) : entry.file;
  if (modelFile !== entry.file) log(`compiled ${entry.file} → ${modelFile}`);
  return {
    language: entry.language,
    modelFile,
    envDir,
    ...(baseEnvDir ? { baseEnvDir } : {}),
    appDir,
    builtAt: new Date().toISOString(),
  };
}

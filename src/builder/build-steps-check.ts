// What a build checks of Truss's build keys before it prepares an environment: build_commands are
// run for Python environments only (a TypeScript model is refused, with the reason), and
// system_packages missing from this machine are named in one warning line.
import type { ModelConfig } from '../config/schema.ts';
import { BuildError } from './node-environment.ts';
import type { BuildLog } from './node-environment.ts';
import { checkSystemPackages, describeSystemPackagesCheck } from './system-packages.ts';

export async function checkBuildSteps(
  language: 'python' | 'typescript',
  config: ModelConfig,
  log: BuildLog,
): Promise<void> {
  if (language === 'typescript' && config.build_commands.length > 0) {
    throw new BuildError(
      'build_commands are run for Python models only, as in Truss: a TypeScript model does such steps in load()',
    );
  }
  if (config.system_packages.length > 0) {
    const warning = describeSystemPackagesCheck(await checkSystemPackages(config.system_packages));
    if (warning) log(warning, 'WARNING');
    else log(`system_packages installed: ${config.system_packages.join(', ')}`);
  }
}

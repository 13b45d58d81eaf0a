// Where `external_package_dirs` are found in a bundle. A folder inside the model directory is
// packed with it and stays where it is; one outside it (`../shared_lib`) is packed under
// `.plinth/external_packages/<its index in the list>/`. The model server (plinth_model.py) puts
// each on the import path by the same rule. Pure.
import { posix } from 'node:path';

export const EXTERNAL_PACKAGES_PREFIX = '.plinth/external_packages';

/** Whether a relative path stays inside the directory it is relative to. */
export function staysInside(path: string): boolean {
  if (path.startsWith('/') || path.includes('\\')) return false;
  const normal = posix.normalize(path);
  return normal !== '..' && !normal.startsWith('../');
}

/** Where the bundle holds external_package_dirs[index]: its own path, or a packed copy. */
export function externalPackagePath(entry: string, index: number): string {
  return staysInside(entry) ? posix.normalize(entry) : `${EXTERNAL_PACKAGES_PREFIX}/${index}`;
}

// Closes the Plinth home to other users: the home 0700 and everything directly in it 0600 (files:
// the database, the keys, the credentials) or 0700 (directories), whatever the umask made them.
// Where replica users must cross the home to their app directories and environments by path (root
// without a mount namespace), the home, `deployments/`, `environments/` and `python-base/` are 0711
// instead: crossable, not listable.
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { plinthHome } from '../../home.ts';

/** The mode each top-level entry of the home gets (`null`: left as it is). */
export function homeEntryMode(
  home: string,
  name: string,
  kind: 'file' | 'directory' | 'other',
  crossable: boolean,
): number | null {
  const layout = plinthHome(home);
  const path = join(home, name);
  if (kind === 'directory')
    return crossable &&
      (path === layout.deployments || path === layout.environments || path === join(home, 'python-base'))
      ? 0o711
      : 0o700;
  return kind === 'file' ? 0o600 : null;
}

export function secureHome(home: string, crossable: boolean): void {
  chmodSync(home, crossable ? 0o711 : 0o700);
  for (const name of readdirSync(home)) {
    const stat = lstatSync(join(home, name));
    const kind = stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : 'other';
    const mode = homeEntryMode(home, name, kind, crossable);
    if (mode !== null && (stat.mode & 0o7777) !== mode) chmodSync(join(home, name), mode);
  }
}

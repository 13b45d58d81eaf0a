// Truss's `system_packages`: Plinth installs no system packages, but checks at build that they are
// installed on the machine that builds (and, on the local runtime, runs) the replicas, with
// `dpkg-query` (never through a shell; the names were checked against Debian's syntax by the
// config schema), and warns naming the missing ones. On Kubernetes the replicas' image decides.
import { DEBIAN_PACKAGE } from '../config/schema.ts';
import { runCommand } from './run-command.ts';

const CHECK_TIMEOUT_MS = 30_000;

export type SystemPackagesCheck =
  { kind: 'ok' } | { kind: 'missing'; missing: string[] } | { kind: 'unchecked'; reason: string };

/** Which of `names` dpkg does not know as installed. */
export async function checkSystemPackages(
  names: readonly string[],
  dpkgQuery = 'dpkg-query',
): Promise<SystemPackagesCheck> {
  const bare = [...new Set(names.map((n) => n.replace(/=.*$/, '')))].filter((n) => DEBIAN_PACKAGE.test(n));
  if (bare.length === 0) return { kind: 'ok' };
  const installed = new Set<string>();
  const result = await runCommand(
    dpkgQuery,
    ['--show', '--showformat=${binary:Package}\\t${Package}\\t${db:Status-Status}\\n', '--', ...bare],
    {
      cwd: '/',
      timeoutMs: CHECK_TIMEOUT_MS,
      onLine: (line, stream) => {
        if (stream !== 'stdout') return;
        const [qualified, name, status] = line.split('\t');
        if (status !== 'installed') return;
        if (qualified) installed.add(qualified);
        if (name) installed.add(name);
      },
    },
  );
  if (result.tail.some((l) => /^could not run .*ENOENT/.test(l)))
    return { kind: 'unchecked', reason: `${dpkgQuery} is not on this machine (not Debian-based?)` };
  if (result.timedOut) return { kind: 'unchecked', reason: `${dpkgQuery} did not answer in time` };
  // dpkg-query exits 1 when some package is unknown: the output says which are installed.
  if (result.code !== 0 && result.code !== 1) {
    return { kind: 'unchecked', reason: `${dpkgQuery} failed (exit ${result.code})` };
  }
  const missing = bare.filter((n) => !installed.has(n));
  return missing.length === 0 ? { kind: 'ok' } : { kind: 'missing', missing };
}

/** The one build-log line a check gives, or null when all is well. */
export function describeSystemPackagesCheck(check: SystemPackagesCheck): string | null {
  if (check.kind === 'ok') return null;
  if (check.kind === 'unchecked') {
    return `WARNING: system_packages cannot be checked: ${check.reason}; Plinth installs no system packages`;
  }
  return `WARNING: system_packages not installed on this machine: ${check.missing.join(', ')} — Plinth installs no system packages: install them (apt-get install ${check.missing.join(' ')}); on Kubernetes the replicas' image decides`;
}

// <home>/credentials.json: the server's URL and the admin API key, mode 600, so that the CLI on
// the same machine finds them. Shared by `plinth up` (writes) and the CLI (reads).
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface Credentials {
  url: string;
  api_key: string;
}

export function readCredentials(file: string): Credentials | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Credentials>;
    if (typeof parsed.url === 'string' && typeof parsed.api_key === 'string') return parsed as Credentials;
  } catch {
    // A damaged file is treated as missing; the server writes a fresh one.
  }
  return undefined;
}

export function writeCredentials(file: string, credentials: Credentials): void {
  writeFileSync(file, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
}

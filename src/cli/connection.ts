// Where the CLI finds the server: PLINTH_URL and PLINTH_API_KEY, else <home>/credentials.json
// written by `plinth up` on this machine.
import { readCredentials } from '../credentials.ts';
import { defaultHomeDir, plinthHome } from '../home.ts';
import { UserError } from './errors.ts';

export interface Connection {
  url: string;
  apiKey: string;
}

export function resolveConnection(): Connection {
  const credentials = readCredentials(plinthHome(defaultHomeDir()).credentials);
  const url = process.env.PLINTH_URL ?? credentials?.url;
  const apiKey = process.env.PLINTH_API_KEY ?? credentials?.api_key;
  if (!url || !apiKey) {
    throw new UserError(
      `no Plinth server found: start one with \`plinth up\`, or set PLINTH_URL and PLINTH_API_KEY (looked in ${plinthHome(defaultHomeDir()).credentials})`,
    );
  }
  return { url: url.replace(/\/+$/, ''), apiKey };
}

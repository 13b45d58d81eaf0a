// The settings `plinth up` and `plinth gateway` take from their flags, checked once by the server
// config's schema; a bad value is one line naming the flag.
import { gatewayConfig, serverConfig, ServerConfigError } from '../config/server-config.ts';
import type {
  GatewayConfig,
  GatewayConfigInput,
  ServerConfig,
  ServerConfigInput,
} from '../config/server-config.ts';
import { UserError } from './errors.ts';

function asUserError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ServerConfigError) throw new UserError(err.message);
    throw err;
  }
}

export function serverSettings(input: ServerConfigInput): ServerConfig {
  return asUserError(() => serverConfig(input));
}

export function gatewaySettings(input: GatewayConfigInput): GatewayConfig {
  return asUserError(() => gatewayConfig(input));
}

/** `--store` (or $PLINTH_STORE): a postgres:// URL, or none (also spelled "sqlite") for SQLite in the home. */
export function storeUrl(flag: string | undefined): string | undefined {
  const value = flag ?? process.env.PLINTH_STORE;
  return value === undefined || value === '' || value === 'sqlite' ? undefined : value;
}

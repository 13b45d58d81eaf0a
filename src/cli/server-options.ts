// The flags `plinth up` and `plinth gateway` share, checked with errors that name the flag.
import { UserError } from './errors.ts';

export function listenPort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UserError(`--port ${value}: expected a port number`);
  return port;
}

export function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new UserError(`${flag} ${value}: expected seconds above 0`);
  return n;
}

/** `--max-queue` and `--park-timeout`: how many requests may wait per deployment, and for how long. */
export function queueSettings(options: { maxQueue: string; parkTimeout: string }): {
  maxQueue: number;
  parkTimeoutS: number;
} {
  const maxQueue = Number(options.maxQueue);
  if (!Number.isInteger(maxQueue) || maxQueue < 0)
    throw new UserError(`--max-queue ${options.maxQueue}: expected a whole number`);
  return { maxQueue, parkTimeoutS: seconds('--park-timeout', options.parkTimeout) };
}

// Log levels in order; asking for a level means that level and everything more severe.
import type { LogLevel } from '../domain/types.ts';

export const LOG_LEVELS: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR'];

export const LOG_LEVELS_AT_OR_ABOVE: Readonly<Record<LogLevel, readonly LogLevel[]>> = {
  DEBUG: LOG_LEVELS,
  INFO: LOG_LEVELS.slice(1),
  WARNING: LOG_LEVELS.slice(2),
  ERROR: LOG_LEVELS.slice(3),
};

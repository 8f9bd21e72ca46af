/** The one place the environment is read. */
import type { LogLevel } from './logger.js';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface Environment {
  /** PORT: default listening port. */
  port: number | undefined;
  /** DOWNPOUR_LOG: log level (default info). */
  logLevel: LogLevel;
  /** CHROMIUM_PATH: Chromium binary for local headless workers. */
  chromiumPath: string | undefined;
  /** DOWNPOUR_ADMIN_TOKEN: the operator token (else kept in the data dir). */
  adminToken: string | undefined;
  /** DOWNPOUR_DATA_DIR: default for --data-dir. */
  dataDir: string | undefined;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const level = (env.DOWNPOUR_LOG ?? 'info') as LogLevel;
  if (!LEVELS.includes(level)) throw new Error(`DOWNPOUR_LOG must be one of ${LEVELS.join(', ')}, got "${env.DOWNPOUR_LOG}"`);
  const port = env.PORT === undefined || env.PORT === '' ? undefined : Number(env.PORT);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error(`PORT must be an integer 0-65535, got "${env.PORT}"`);
  }
  return {
    port,
    logLevel: level,
    chromiumPath: env.CHROMIUM_PATH || undefined,
    adminToken: env.DOWNPOUR_ADMIN_TOKEN || undefined,
    dataDir: env.DOWNPOUR_DATA_DIR || undefined,
  };
}

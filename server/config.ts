/** The one place the environment is read. */
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js';

export interface Environment {
  /** PORT: default listening port. */
  port: number | undefined;
  /** DOWNPOUR_LOG: log level (default info). */
  logLevel: LogLevel;
  /** DOWNPOUR_LOG_FORMAT: json or pretty (default: pretty when stderr is a terminal, else json). */
  logFormat: LogFormat | undefined;
  /** CHROMIUM_PATH: Chromium binary for local headless workers. */
  chromiumPath: string | undefined;
  /** DOWNPOUR_ADMIN_TOKEN: the operator token (else kept in the data dir). */
  adminToken: string | undefined;
  /** DOWNPOUR_DATA_DIR: default for --data-dir. */
  dataDir: string | undefined;
  /**
   * DOWNPOUR_PROJECT_NAME, _OPERATOR, _CONTACT, _PRIVACY: defaults for --project-name,
   * --project-operator, --project-contact, --project-privacy (what volunteers read
   * before Start; validated by server/volunteers/project-info.ts).
   */
  project: { name: string | undefined; operator: string | undefined; contact: string | undefined; privacy: string | undefined };
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const logLevel = oneOf('DOWNPOUR_LOG', LOG_LEVELS, env.DOWNPOUR_LOG) ?? 'info';
  const logFormat = oneOf('DOWNPOUR_LOG_FORMAT', LOG_FORMATS, env.DOWNPOUR_LOG_FORMAT);
  const port = env.PORT === undefined || env.PORT === '' ? undefined : Number(env.PORT);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error(`PORT must be an integer 0-65535, got "${env.PORT}"`);
  }
  return {
    port,
    logLevel,
    logFormat,
    chromiumPath: env.CHROMIUM_PATH || undefined,
    adminToken: env.DOWNPOUR_ADMIN_TOKEN || undefined,
    dataDir: env.DOWNPOUR_DATA_DIR || undefined,
    project: {
      name: env.DOWNPOUR_PROJECT_NAME || undefined,
      operator: env.DOWNPOUR_PROJECT_OPERATOR || undefined,
      contact: env.DOWNPOUR_PROJECT_CONTACT || undefined,
      privacy: env.DOWNPOUR_PROJECT_PRIVACY || undefined,
    },
  };
}

/** An unset or empty variable is undefined; any other value must be one of `allowed`. */
function oneOf<T extends string>(name: string, allowed: readonly T[], value: string | undefined): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

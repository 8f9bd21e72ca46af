/**
 * One logger for the coordinator, namespaced per concern: one root pino logger and a
 * child per namespace (the `ns` field). Lines are JSON on stderr, so stdout stays for
 * what a person or a script asked for (the page URL, bench JSON); pretty text when
 * stderr is a terminal. Writes are synchronous: a line logged just before
 * process.exit() is not lost, and lines keep their order on a crash. No transport, so
 * no worker thread. Format, fields and levels: docs/logging.md.
 *
 * The operator token must never reach a log line. It is never logged on purpose; as a
 * defence in depth, fields named like credentials are censored (REDACTED_PATHS) and any
 * value registered with redactSecret is replaced wherever it appears in a line.
 */
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Fields become top-level properties of the line. `err` (a thrown value) is described by describeError. */
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggingOptions {
  /** Lowest level written (default info). */
  level?: LogLevel;
  /** Default: pretty when stderr is a terminal, else json. */
  format?: LogFormat;
  /** Where lines go (default: stderr, written synchronously). Tests pass a capture. */
  destination?: DestinationStream;
}

export const CENSOR = '[Redacted]';

/** Credential-named fields, at the top and up to two objects down (e.g. `headers.authorization`, `req.headers.cookie`). */
export const REDACTED_PATHS: readonly string[] = ['token', 'operatorToken', 'authorization', 'cookie', 'password'].flatMap((key) => [
  key,
  `*.${key}`,
  `*.*.${key}`,
]);

let stderr: DestinationStream | null = null;
let settings: Required<LoggingOptions> = defaults({});
let root: PinoLogger | null = null;
const children = new Map<string, PinoLogger>();
/** Secret → registrations still alive (two coordinators in one process may share a token). */
const secrets = new Map<string, number>();

/** Replaces the whole configuration; what `options` leaves out takes its default. */
export function configureLogging(options: LoggingOptions = {}): void {
  settings = defaults(options);
  root = null;
  children.clear();
}

/** Changes the level only (tests and benches quieten the coordinator with it). */
export function setLogLevel(level: LogLevel): void {
  settings = { ...settings, level };
  root = null;
  children.clear();
}

/**
 * From now on every line has `secret` replaced by [Redacted] wherever it appears (a
 * message, an error's text, a field at any depth); the returned function ends that.
 */
export function redactSecret(secret: string): () => void {
  if (!secret) return () => {};
  // Inside a JSON string the secret appears escaped when it holds quotes or backslashes.
  const forms = [...new Set([secret, JSON.stringify(secret).slice(1, -1)])];
  for (const s of forms) secrets.set(s, (secrets.get(s) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const s of forms) {
      const n = secrets.get(s)! - 1;
      if (n > 0) secrets.set(s, n);
      else secrets.delete(s);
    }
  };
}

export function createLogger(namespace: string): Logger {
  const emit = (level: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
    const log = childFor(namespace);
    if (!log.isLevelEnabled(level)) return;
    if (fields === undefined) log[level](msg);
    else log[level](describeErrors(fields, level === 'error' || settings.level === 'debug'), msg);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export interface DescribedError {
  type: string;
  message: string;
  code?: string | number;
  stack?: string;
  cause?: DescribedError;
}

/**
 * A thrown value as a plain object: its own properties other than these are left out
 * (a body-parser error carries the request body). The stack only when asked: error
 * lines are unexpected failures, where a developer needs it; warnings are expected
 * conditions whose message says enough.
 */
export function describeError(thrown: unknown, withStack: boolean, depth = 0): DescribedError {
  if (!(thrown instanceof Error)) return { type: typeof thrown, message: String(thrown) };
  const described: DescribedError = { type: thrown.name, message: thrown.message };
  const code = (thrown as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') described.code = code;
  if (withStack && thrown.stack) described.stack = thrown.stack;
  if (thrown.cause !== undefined && depth < 3) described.cause = describeError(thrown.cause, withStack, depth + 1);
  return described;
}

/** JSON would turn an Error into `{}`: `err`, and any field holding an Error, are described. */
function describeErrors(fields: LogFields, withStack: boolean): LogFields {
  let out = fields;
  for (const key in fields) {
    const value = fields[key];
    if (key === 'err' || value instanceof Error) {
      if (out === fields) out = { ...fields };
      out[key] = describeError(value, withStack);
    }
  }
  return out;
}

function defaults(options: LoggingOptions): Required<LoggingOptions> {
  return {
    level: options.level ?? 'info',
    format: options.format ?? (process.stderr.isTTY ? 'pretty' : 'json'),
    destination: options.destination ?? (stderr ??= pino.destination({ fd: 2, sync: true })),
  };
}

function childFor(namespace: string): PinoLogger {
  let child = children.get(namespace);
  if (!child) {
    root ??= createRoot(settings);
    child = root.child({ ns: namespace });
    children.set(namespace, child);
  }
  return child;
}

function createRoot({ level, format, destination }: Required<LoggingOptions>): PinoLogger {
  return pino(
    {
      level,
      // ISO time and level labels: what Loki, Elasticsearch and jq read without a mapping.
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Errors are described before pino sees them; its own serializer would redo that badly.
      serializers: { err: (value: unknown) => value },
      redact: { paths: [...REDACTED_PATHS], censor: CENSOR },
      hooks: { streamWrite: scrubSecrets },
    },
    format === 'pretty' ? prettyStream(destination) : destination,
  );
}

function scrubSecrets(line: string): string {
  for (const secret of secrets.keys()) if (line.includes(secret)) line = line.split(secret).join(CENSOR);
  return line;
}

/** pino-pretty's formatter, called in line: no transform stream, so nothing is buffered at exit. */
function prettyStream(destination: DestinationStream): DestinationStream {
  // Loaded only when wanted: most runs write JSON and need not pay for its import.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const format = prettyFactory({
    colorize: destination === stderr && Boolean(process.stderr.isTTY),
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,ns',
    messageFormat: '[{ns}] {msg}',
  });
  return { write: (line: string) => destination.write(format(line)) };
}

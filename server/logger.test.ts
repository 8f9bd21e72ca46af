/**
 * The logger's lines as a log pipeline reads them: one JSON object per line with the
 * level's label, an ISO time, the namespace and the fields at the top; errors described;
 * credentials censored by name and registered secrets by value; a line written just
 * before process.exit() survives. The whole coordinator's lines: test/log-lines.test.ts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readEnvironment } from './config.js';
import { CENSOR, configureLogging, createLogger, redactSecret, setLogLevel, type LogFormat, type LogLevel } from './logger.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Captures what the logger writes; `lines()` parses each as JSON. */
function capture(level: LogLevel = 'debug', format: LogFormat = 'json') {
  const written: string[] = [];
  configureLogging({ level, format, destination: { write: (s: string) => void written.push(s) } });
  return {
    written,
    lines: () => written.map((s) => JSON.parse(s) as Record<string, unknown>),
  };
}

afterEach(() => configureLogging({ level: 'warn' }));

describe('lines', () => {
  it('are one JSON object each: level label, ISO time, namespace, message, fields at the top', () => {
    const out = capture();
    createLogger('jobs').info('job state', { job: 'job-1', state: 'paused', version: 3 });
    expect(out.written).toHaveLength(1);
    expect(out.written[0]!.endsWith('\n')).toBe(true);
    expect(out.written[0]!.trimEnd()).not.toContain('\n');
    const [line] = out.lines();
    expect(line).toMatchObject({ level: 'info', ns: 'jobs', msg: 'job state', job: 'job-1', state: 'paused', version: 3, pid: process.pid });
    expect(new Date(line!.time as string).toISOString()).toBe(line!.time);
    expect(typeof line!.hostname).toBe('string');
  });

  it('below the level are not written, and setLogLevel reaches loggers made before it', () => {
    const out = capture('info');
    const log = createLogger('eval');
    log.debug('hidden');
    log.info('shown');
    setLogLevel('warn');
    log.info('hidden');
    log.warn('shown');
    setLogLevel('silent');
    log.error('hidden');
    setLogLevel('debug');
    log.debug('shown');
    expect(out.lines().map((l) => [l.level, l.msg])).toEqual([
      ['info', 'shown'],
      ['warn', 'shown'],
      ['debug', 'shown'],
    ]);
  });

  it('pretty: one readable line with the namespace, no colour when not on a terminal', () => {
    const out = capture('info', 'pretty');
    createLogger('coordinator').warn('job created', { job: 'job-1', parameters: 101770 });
    expect(out.written).toHaveLength(1);
    expect(out.written[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[coordinator\] job created \{"job":"job-1","parameters":101770\}\n$/);
  });
});

describe('errors', () => {
  const failure = () => {
    const err = new Error('disk full', { cause: new Error('ENOSPC') }) as Error & { code: string; body: string };
    err.code = 'ENOSPC';
    err.body = 'the request body, which is not for the logs';
    return err;
  };

  it('`err` is described by type, message, code and cause; other own properties stay out', () => {
    const out = capture('info');
    createLogger('checkpoint').warn('checkpoint failed', { job: 'job-1', err: failure() });
    const [line] = out.lines();
    expect(line!.err).toEqual({ type: 'Error', message: 'disk full', code: 'ENOSPC', cause: { type: 'Error', message: 'ENOSPC' } });
  });

  it('the stack comes on error lines, and on every line at debug', () => {
    const out = capture('info');
    createLogger('http').error('request failed', { err: failure() });
    setLogLevel('debug');
    createLogger('http').warn('checkpoint failed', { err: failure() });
    for (const line of out.lines()) expect((line.err as { stack?: string }).stack).toMatch(/^Error: disk full\n\s+at /);
  });

  it('a thrown non-Error, and an Error under another name, are described too', () => {
    const out = capture('info');
    createLogger('worker-ns').warn('handler failed', { err: 'plain string', cause: new RangeError('out of range') });
    const [line] = out.lines();
    expect(line!.err).toEqual({ type: 'string', message: 'plain string' });
    expect(line!.cause).toEqual({ type: 'RangeError', message: 'out of range' });
  });
});

describe('secrets', () => {
  it('credential-named fields are censored at the top and two objects down', () => {
    const out = capture('info');
    createLogger('http').info('request', {
      token: 'a',
      operatorToken: 'b',
      auth: { token: 'c' },
      headers: { authorization: 'Bearer d', cookie: 'e' },
      req: { headers: { authorization: 'Bearer f' } },
    });
    const [line] = out.lines();
    expect(line).toMatchObject({
      token: CENSOR,
      operatorToken: CENSOR,
      auth: { token: CENSOR },
      headers: { authorization: CENSOR, cookie: CENSOR },
      req: { headers: { authorization: CENSOR } },
    });
    expect(out.written.join('')).not.toMatch(/Bearer/);
  });

  it('a registered secret is replaced wherever it appears, until the last registration is released', () => {
    const secret = 'op-"secret"-42'; // a quote: inside JSON it is escaped
    const out = capture('info');
    const log = createLogger('coordinator');
    const releaseFirst = redactSecret(secret);
    const releaseSecond = redactSecret(secret);
    log.error(`refused ${secret}`, { deep: { deeper: { deepest: [secret] } }, err: new Error(`bad token ${secret}`) });
    releaseFirst();
    log.info('still', { value: secret });
    releaseSecond();
    log.info('now', { value: secret });
    const [refused, still, now] = out.lines();
    expect(refused!.msg).toBe(`refused ${CENSOR}`);
    expect(refused!.deep).toEqual({ deeper: { deepest: [CENSOR] } });
    expect((refused!.err as { message: string }).message).toBe(`bad token ${CENSOR}`);
    expect(JSON.stringify(refused)).not.toContain('secret');
    expect(still!.value).toBe(CENSOR);
    expect(now!.value).toBe(secret);
  });
});

describe('a process that ends right after logging', () => {
  /** Runs `body` (after `log` is made) in its own process; resolves with how it ended and its stderr. */
  const run = (format: LogFormat, body: string) =>
    new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve, reject) => {
      const script = [
        "import { configureLogging, createLogger } from './server/logger.ts';",
        `configureLogging({ format: '${format}' });`,
        "const log = createLogger('main');",
        body,
      ].join('\n');
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.once('error', reject);
      child.once('close', (code, signal) => (stdout ? reject(new Error(`wrote to stdout: ${stdout}`)) : resolve({ code, signal, stderr })));
    });

  it('process.exit() loses no line, in either format', async () => {
    const body = "log.error('last words', { code: 7 }); process.exit(3);";
    const [json, pretty] = await Promise.all([run('json', body), run('pretty', body)]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stderr)).toMatchObject({ level: 'error', ns: 'main', msg: 'last words', code: 7 });
    expect(pretty.code).toBe(3);
    expect(pretty.stderr).toMatch(/ERROR: \[main\] last words \{"code":7\}\n$/);
  });

  it('a death with no exit handlers (SIGKILL) loses no line either: each is written before log.error returns', async () => {
    // Well past the destination's buffer: an asynchronous writer loses nearly all of these.
    const body = "for (let i = 0; i < 500; i++) log.error('line', { i, pad: 'x'.repeat(200) }); process.kill(process.pid, 'SIGKILL');";
    const [json, pretty] = await Promise.all([run('json', body), run('pretty', body)]);
    const all = Array.from({ length: 500 }, (_, i) => i);
    expect(json.signal).toBe('SIGKILL');
    expect(json.stderr.trimEnd().split('\n').map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(all);
    expect(pretty.signal).toBe('SIGKILL');
    expect(pretty.stderr.trimEnd().split('\n').map((l) => Number(/\{"i":(\d+),/.exec(l)?.[1]))).toEqual(all);
  });
});

describe('DOWNPOUR_LOG and DOWNPOUR_LOG_FORMAT', () => {
  it('default to info and to the terminal test; empty counts as unset', () => {
    expect(readEnvironment({})).toMatchObject({ logLevel: 'info', logFormat: undefined });
    expect(readEnvironment({ DOWNPOUR_LOG: '', DOWNPOUR_LOG_FORMAT: '' })).toMatchObject({ logLevel: 'info', logFormat: undefined });
    expect(readEnvironment({ DOWNPOUR_LOG: 'debug', DOWNPOUR_LOG_FORMAT: 'pretty' })).toMatchObject({ logLevel: 'debug', logFormat: 'pretty' });
  });

  it('refuse anything else, naming the variable, the choices and the value', () => {
    expect(() => readEnvironment({ DOWNPOUR_LOG_FORMAT: 'JSON' })).toThrow('DOWNPOUR_LOG_FORMAT must be one of json, pretty, got "JSON"');
    expect(() => readEnvironment({ DOWNPOUR_LOG: 'verbose' })).toThrow('DOWNPOUR_LOG must be one of debug, info, warn, error, silent, got "verbose"');
  });
});

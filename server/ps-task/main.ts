/**
 * `npm run ps -- --port 2222 [--token-file F] [--connections-per-address N]`: one ps task, waiting for its chief.
 * The cluster token comes from --token-file, else from <data dir>/cluster-token
 * (generated there on first start: copy it to the chief's host). A group stop
 * (SIGTERM or SIGINT) closes it; what it held lives on in the chief's checkpoints.
 * Forked by a coordinator (`npm start -- --ps N`), it sends its port over IPC and
 * exits when its parent is gone (server/cluster/local-ps-tasks.ts).
 */
import { Command } from 'commander';
import { resolveClusterToken } from '../cluster/cluster-token.js';
import { integer } from '../cli-args.js';
import { readEnvironment } from '../config.js';
import { DEFAULT_CONNECTIONS_PER_ADDRESS } from '../http/connection-cap.js';
import { configureLogging, createLogger } from '../logger.js';
import { onStopSignals } from '../process/stop-signals.js';
import type { PsTaskMessage } from '../cluster/local-ps-tasks.js';
import { createPsTask } from './ps-task.js';

const log = createLogger('ps-main');

async function main(): Promise<void> {
  const env = readEnvironment();
  configureLogging({ level: env.logLevel, format: env.logFormat });
  const program = new Command('downpour-ps')
    .description('Downpour ps task: holds the parameters a chief places on it and applies workers\' pushes')
    .option('--port <n>', 'port for workers and the chief', integer(0, 65535), 2222)
    .option('--host <address>', 'address to bind', '0.0.0.0')
    .option('--token-file <file>', 'file holding the cluster token (default: <data dir>/cluster-token, generated if missing)')
    .option('--idle-socket-ms <n>', 'close a connection silent this long (no request, headers never finished)', integer(1, 3_600_000))
    .option('--connections-per-address <n>', 'connections one IP address may hold at once; 0: no cap (behind a reverse proxy, where every client is the proxy)', integer(0, 1_000_000), DEFAULT_CONNECTIONS_PER_ADDRESS)
    .option('--data-dir <dir>', 'where a generated cluster token and checkpoint parts (ps-parts/) are kept (env DOWNPOUR_DATA_DIR)', env.dataDir ?? './.downpour')
    .showHelpAfterError();
  program.parse();
  const opts = program.opts<{ port: number; host: string; tokenFile?: string; dataDir: string; idleSocketMs?: number; connectionsPerAddress: number }>();

  const token = resolveClusterToken({ tokenFile: opts.tokenFile, dataDir: opts.dataDir });
  if (!token.ok) {
    log.error(token.message, { code: token.code });
    process.exit(2);
  }
  const task = createPsTask({ token: token.token, dataDir: opts.dataDir, idleSocketMs: opts.idleSocketMs, connectionsPerAddress: opts.connectionsPerAddress });
  const { port } = await task.listen(opts.port, opts.host);
  // Forked by a coordinator (npm start -- --ps N): it is told the port, and the task ends with its parent.
  if (process.send) {
    process.send({ type: 'listening', port } satisfies PsTaskMessage);
    process.on('disconnect', () => void task.close().then(() => process.exit(0)));
  }
  process.stdout.write(`Downpour ps task on ${opts.host}:${port}; cluster token in ${token.file}${token.generated ? ' (generated now: copy it to the chief)' : ''}\n`);

  onStopSignals({
    onStop: (signal) => {
      log.info('shutting down', { signal });
      void task.close().then(() => process.exit(0));
    },
    onForce: () => process.exit(1),
  });
}

main().catch((err: unknown) => {
  log.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});

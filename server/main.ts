/**
 * `npm start`: the coordinator on --port with the default job (MNIST, cnn, async
 * Downpour, Adagrad) running, and optionally --workers N headless Chromium workers
 * on this machine. One group stop (SIGTERM or SIGINT, relays included) is one clean
 * shutdown: browsers closed, a checkpoint of every job that moved, exit 0; a signal
 * after the burst exits 1 at once.
 */
import { Command, Option } from 'commander';
import { CODEC_IDS } from '../shared/codec.js';
import { BUILTIN_JOB_WIRE, builtinJobWire } from '../shared/job-defaults.js';
import { MODEL_PRESET_NAMES } from '../shared/job-spec.js';
import { BACKENDS } from '../shared/protocol.js';
import type { Fleet } from '../farm/fleet.js';
import { buildClientIfNeeded } from './build-client.js';
import { integer } from './cli-args.js';
import { planCluster, type ClusterPlan } from './cluster/cluster-plan.js';
import { resolveClusterToken } from './cluster/cluster-token.js';
import { startLocalPsTasks, type LocalPsTasks } from './cluster/local-ps-tasks.js';
import type { PsClusterOptions } from './cluster/ps-cluster.js';
import { formatPsEndpoint } from '../shared/cluster-spec.js';
import { resolveOperatorToken } from './auth/operator-token.js';
import { readEnvironment } from './config.js';
import { DEFAULT_APPLY_SETTINGS } from './params/apply-engine.js';
import { createCoordinator } from './coordinator.js';
import { DEFAULT_CONNECTIONS_PER_ADDRESS } from './http/connection-cap.js';
import { configureLogging, createLogger } from './logger.js';
import { onStopSignals } from './process/stop-signals.js';
import { parseProjectInfo, ProjectInfoError } from './volunteers/project-info.js';

const log = createLogger('main');

async function main(): Promise<void> {
  const env = readEnvironment();
  configureLogging({ level: env.logLevel, format: env.logFormat });
  const program = new Command('downpour')
    .description('Downpour coordinator: parameter server for browser workers')
    .addOption(new Option('--port <n>', 'HTTP port (env PORT)').argParser(integer(0, 65535)).default(env.port ?? 3000))
    .option('--host <address>', 'address to bind', '0.0.0.0')
    .option('--workers <n>', 'headless Chromium workers to start on this machine', integer(0, 64), 0)
    .addOption(new Option('--backend <name>', 'force this backend on the workers started here').choices(BACKENDS))
    .addOption(new Option('--model <preset>', 'model of the default job').choices(MODEL_PRESET_NAMES).default('cnn'))
    .addOption(new Option('--codec <id>', 'gradient codec of the default job (topk-packed: ratio 0.008, with pull deltas)').choices(CODEC_IDS).default(BUILTIN_JOB_WIRE.codec))
    .option('--epochs <n>', 'epochs of the default job', integer(1, 10_000), 20)
    .option('--data-dir <dir>', 'where jobs, checkpoints and uploads are kept (env DOWNPOUR_DATA_DIR)', env.dataDir ?? './.downpour')
    .option('--no-default-job', 'do not create the default MNIST job when there are no stored jobs')
    .option('--ps <n>', 'start N ps task processes on this machine and keep every job\'s parameters on them (docs/cluster.md)')
    .option('--cluster <file>', 'keep every job\'s parameters on the running ps tasks this ClusterSpec names ({"ps": ["host:port", …]})')
    .option('--token-file <file>', 'the cluster token shared with the ps tasks (default: <data dir>/cluster-token, generated if missing)')
    .option('--no-build', 'do not build the browser client even if it is stale')
    .addOption(
      new Option('--ps-kernels <kind>', 'what applies updates: wasm (SIMD kernels) or js (reference loops)')
        .choices(['wasm', 'js'])
        .default(DEFAULT_APPLY_SETTINGS.kernels),
    )
    .option('--apply-threads <n>', 'threads sharing one apply of a large model (1: the event loop alone)', integer(1, 64), DEFAULT_APPLY_SETTINGS.threads)
    .option('--connections-per-address <n>', 'connections one IP address may hold at once, here and on each --ps task; 0: no cap (behind a reverse proxy, where every client is the proxy)', integer(0, 1_000_000), DEFAULT_CONNECTIONS_PER_ADDRESS)
    .option('--project-name <text>', 'the project volunteers see before Start (env DOWNPOUR_PROJECT_NAME)', env.project.name)
    .option('--project-operator <text>', 'who runs this coordinator (env DOWNPOUR_PROJECT_OPERATOR)', env.project.operator)
    .option('--project-contact <email-or-url>', 'how volunteers reach the operator (env DOWNPOUR_PROJECT_CONTACT)', env.project.contact)
    .option('--project-privacy <text>', 'what the operator keeps and for how long (env DOWNPOUR_PROJECT_PRIVACY)', env.project.privacy)
    .showHelpAfterError();
  program.parse();
  const opts = program.opts<{
    port: number;
    host: string;
    workers: number;
    backend?: string;
    model: string;
    codec: string;
    epochs: number;
    dataDir: string;
    defaultJob: boolean;
    build: boolean;
    ps?: string;
    cluster?: string;
    tokenFile?: string;
    psKernels: 'wasm' | 'js';
    applyThreads: number;
    connectionsPerAddress: number;
    projectName?: string;
    projectOperator?: string;
    projectContact?: string;
    projectPrivacy?: string;
  }>();
  const project = projectFromFlags(program, opts);

  const plan = planCluster({ ps: opts.ps, cluster: opts.cluster });
  if (!plan.ok) return program.error(`error: ${plan.code}: ${plan.message}`);
  if (opts.build) await buildClientIfNeeded();
  const token = resolveOperatorToken(env.adminToken, opts.dataDir);
  const ps = await startCluster(plan.plan, opts.dataDir, opts.tokenFile, opts.connectionsPerAddress);
  const coordinator = createCoordinator({
    cluster: ps?.options,
    dataDir: opts.dataDir,
    operatorToken: token.token,
    apply: { ...DEFAULT_APPLY_SETTINGS, kernels: opts.psKernels, threads: opts.applyThreads },
    connectionsPerAddress: opts.connectionsPerAddress,
    project,
  });
  const restored = await coordinator.restore();
  if (restored.length) log.info('restored jobs', { jobs: restored.map((j) => `${j.id}:${j.state}@v${j.version}`) });
  else if (opts.defaultJob) {
    // On ps tasks the default job takes what works across them: fp32 pushes, the norm bound judged per task, no direction check (docs/cluster.md).
    const wire = ps ? { ...builtinJobWire('fp32'), directionThreshold: null } : builtinJobWire(opts.codec);
    const created = await coordinator.createJob({ name: `MNIST ${opts.model}`, model: opts.model, epochs: opts.epochs, ...wire });
    if (!created.ok) throw new Error(created.message);
  }
  const { url } = await coordinator.listen(opts.port, opts.host);
  process.stdout.write(`Downpour coordinator: open ${url} to donate compute; operators: ${url}dashboard\n`);
  if (token.generated) {
    // Shown once, to the person who started the coordinator; never logged.
    process.stdout.write(`Operator token (stored in ${opts.dataDir}/operator-token): ${token.token}\n`);
  }

  // From here a group stop (npm's relay included) is one clean shutdown; before the
  // port is bound nothing has moved and the default action loses nothing.
  let fleet: Promise<Fleet | null> = Promise.resolve(null);
  const shutdown = async (signal: string) => {
    log.info('shutting down', { signal });
    const started = await fleet.catch(() => null); // a stop during start-up waits for the browsers to close them
    await started?.close().catch(() => {});
    await coordinator.close(); // checkpoints every job that moved
    await ps?.local?.close(); // after the checkpoints, which read the parameters from the tasks
    process.exit(0);
  };
  onStopSignals({
    onStop: (signal) => void shutdown(signal),
    onRelay: (signal, ms) => log.debug('signal relayed: the same stop', { signal, ms: Math.round(ms) }),
    onForce: (signal, ms) => {
      log.warn(`${signal} again after ${(ms / 1000).toFixed(1)} s: exiting without waiting`);
      process.exit(1); // Playwright's exit hook kills the local workers' browsers
    },
  });

  if (opts.workers > 0) {
    fleet = startLocalWorkers(url, opts.workers, opts.backend);
    await fleet;
    log.info('local workers started', { workers: opts.workers });
  }
}

/** The ps tasks of the plan: started here (--ps N) or named (--cluster FILE), with the cluster token; null when embedded. */
async function startCluster(plan: ClusterPlan, dataDir: string, tokenFile: string | undefined, connectionsPerAddress: number): Promise<{ options: PsClusterOptions; local: LocalPsTasks | null } | null> {
  if (plan.kind === 'embedded') return null;
  const token = resolveClusterToken({ tokenFile, dataDir });
  if (!token.ok) throw new Error(`${token.code}: ${token.message}`);
  if (plan.kind === 'remote') {
    const endpoints = plan.endpoints.map((e) => `http://${formatPsEndpoint(e)}`);
    log.info('using ps tasks', { file: plan.file, endpoints });
    return { options: { endpoints, token: token.token }, local: null };
  }
  // The tasks it forks cap connections per address as it does: the same hosts connect to both.
  const local = await startLocalPsTasks({ tasks: plan.tasks, dataDir, tokenFile, connectionsPerAddress });
  // The tasks' supervisor: a task that exits is restarted on a new port, and the cluster follows it.
  return { options: { endpoints: [...local.endpoints], token: token.token, supervisor: local }, local };
}

/** The --project-* flags (or their environment defaults), validated; a bad one stops with the flag's name. */
function projectFromFlags(program: Command, o: { projectName?: string; projectOperator?: string; projectContact?: string; projectPrivacy?: string }) {
  try {
    return parseProjectInfo({ name: o.projectName, operator: o.projectOperator, contact: o.projectContact, privacy: o.projectPrivacy });
  } catch (err) {
    if (!(err instanceof ProjectInfoError)) throw err;
    const env = `DOWNPOUR_PROJECT_${err.field.toUpperCase()}`;
    return program.error(`error: option '--project-${err.field}' (or ${env}): ${err.message}`);
  }
}

/** playwright-core loads here, only when asked for: a coordinator alone never needs it. */
async function startLocalWorkers(url: string, workers: number, backend: string | undefined): Promise<Fleet> {
  const { launchWorkers } = await import('../farm/fleet.js');
  return launchWorkers({
    url,
    workers,
    backend,
    onPageError: (i, message) => log.warn('worker page error', { worker: i, message }),
  });
}

main().catch((err: unknown) => {
  log.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});

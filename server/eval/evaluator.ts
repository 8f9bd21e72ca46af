/**
 * Runs evaluations on a worker thread so the parameter server's event loop never
 * waits on a forward pass over the test set. One thread per coordinator; requests
 * queue in order.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createLogger } from '../logger.js';
import type { EvalReply, EvalRequest, TestSet } from './messages.js';

const log = createLogger('eval');

export type EvalResult = Extract<EvalReply, { ok: true }>;

export interface EvaluationRequest {
  topology: object;
  tensors: EvalRequest['tensors'];
  values: Float32Array[];
  datasetKey: string;
  /** Called only when the thread needs the test split (first use, or after a restart). */
  testSet: () => TestSet;
}

export interface EvaluationService {
  evaluate(req: EvaluationRequest): Promise<EvalResult>;
  close(): Promise<void>;
}

/** The ESM entry of tsx's register API, read from its package exports. */
function tsxRegisterUrl(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
}

/**
 * Starts the evaluation thread. A source checkout runs TypeScript through tsx; Node 20
 * does not apply `--import` loaders to worker threads, so the thread registers tsx
 * itself before importing its module.
 */
function startWorker(): Worker {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith('.ts')) return new Worker(new URL('./eval-worker.js', here));
  const entry = new URL('./eval-worker.ts', here).href;
  const bootstrap = `import(${JSON.stringify(tsxRegisterUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true });
}

export function createEvaluationService(): EvaluationService {
  let worker: Worker | null = null;
  let nextId = 1;
  /** Test sets the current thread holds; a new thread starts empty. */
  let sent = new Set<string>();
  const waiting = new Map<number, { resolve: (r: EvalResult) => void; reject: (e: Error) => void }>();

  const failAll = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };

  const ensureWorker = (): Worker => {
    if (worker) return worker;
    const w = startWorker();
    sent = new Set();
    w.unref();
    w.on('message', (reply: EvalReply) => {
      const pending = waiting.get(reply.id);
      if (!pending) return;
      waiting.delete(reply.id);
      if (reply.ok) pending.resolve(reply);
      else pending.reject(new Error(reply.message));
    });
    w.on('error', (err) => {
      log.error('evaluation thread failed', { err });
      failAll(err);
      worker = null;
    });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      if (waiting.size) failAll(new Error(`evaluation thread exited with code ${code}`));
    });
    worker = w;
    return w;
  };

  return {
    evaluate(req) {
      const id = nextId++;
      return new Promise<EvalResult>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        const w = ensureWorker();
        const testSet = sent.has(req.datasetKey) ? undefined : req.testSet();
        sent.add(req.datasetKey);
        const msg: EvalRequest = { id, topology: req.topology, datasetKey: req.datasetKey, testSet, tensors: req.tensors, values: req.values };
        w.postMessage(msg, req.values.map((v) => v.buffer as ArrayBuffer));
      });
    },
    async close() {
      const w = worker;
      worker = null;
      failAll(new Error('evaluation service closed'));
      if (w) await w.terminate();
    },
  };
}

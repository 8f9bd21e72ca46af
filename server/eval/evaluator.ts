/**
 * Runs evaluations on a worker thread so the parameter server's event loop never
 * waits on a forward pass over the test set. One thread per coordinator; requests
 * queue in order.
 */
import type { Worker } from 'node:worker_threads';
import { createLogger } from '../logger.js';
import { siblingModule, startTsThread } from '../process/ts-thread.js';
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
    const w = startTsThread(siblingModule(import.meta.url, 'eval-worker'));
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

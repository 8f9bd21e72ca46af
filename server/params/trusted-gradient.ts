/**
 * The parameter server's own gradients, on a thread (trusted-gradient-worker.ts) so that
 * the event loop never waits on a forward and backward pass over a root set, nor on a
 * dot product over a model: `trust` has the thread take the gradient of a job's root set
 * (and its norm per mini-batch) at one version's parameters, `witness` hands it a pushed gradient to compare with
 * that version's trusted gradient. One thread per coordinator, messages handled in
 * order. A thread that fails fails what it held; the next request starts a new one.
 */
import type { Worker } from 'node:worker_threads';
import type { TensorSpec } from '../../shared/tensors.js';
import { createLogger } from '../logger.js';
import { siblingModule, startTsThread } from '../process/ts-thread.js';
import type { TensorPiece } from './reference-norms.js';
import type { RootSet } from './root-set.js';
import type { TrustedGradientMessage, TrustedGradientReply } from './trusted-gradient-messages.js';

const log = createLogger('trusted-gradient');

export interface TrustRequest {
  /** Names the root set the thread caches (the job's id). */
  rootKey: string;
  /** Numbers this trusted gradient; witnesses name it. Increasing per root key. */
  snapshot: number;
  topology: object;
  tensors: TensorSpec[];
  /** The parameters to take the gradient at: a copy, transferred to the thread. */
  values: Float32Array[];
  /** Called only when the thread needs the root set (first use, or after a restart). */
  rootSet: () => RootSet;
  /** The job's mini-batch size, for the norm per batch. */
  batchSize: number;
  /** Sums of squares per these pieces (a job's ps task slices) rather than per tensor. */
  pieces?: TensorPiece[];
}

/** A trusted gradient taken: the root set's mean loss, the PS's norm per mini-batch there (whole, and per tensor), and how long it took. */
export interface Trusted {
  loss: number;
  batchNorm: number;
  batchSquares: number[][];
  ms: number;
}

export interface Judgement {
  /** Per witnessed range: cos(witnessed gradient, trusted gradient) over it; null when there was nothing to compare with. */
  cosines: (number | null)[];
  /** The buffer the gradient was sent in, back for reuse. */
  gradient: Float32Array;
}

export interface TrustedGradientService {
  /**
   * Resolves once the root set's gradient at `values` is the thread's trusted gradient
   * for `rootKey`; rejects if the thread could not compute it. At most one per root key
   * at a time.
   */
  trust(req: TrustRequest): Promise<Trusted>;
  /** Compares `gradient` (transferred; all tensors, flat) with the trusted gradient of `snapshot`, over each of `ranges` ([from, to) element offsets). */
  witness(rootKey: string, snapshot: number, gradient: Float32Array, ranges: [number, number][]): Promise<Judgement>;
  /** The job is gone: the thread drops its root set. */
  forget(rootKey: string): void;
  close(): Promise<void>;
}

export interface TrustedGradientServiceOptions {
  /** The thread's module. Default: trusted-gradient-worker beside this file; tests start one that fails. */
  thread?: URL;
}

interface Pending<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

export function createTrustedGradientService(options: TrustedGradientServiceOptions = {}): TrustedGradientService {
  const entry = options.thread ?? siblingModule(import.meta.url, 'trusted-gradient-worker');
  let worker: Worker | null = null;
  let nextWitness = 1;
  /** Root sets the current thread holds; a new thread starts empty. */
  let sent = new Set<string>();
  const trusts = new Map<string, Pending<Trusted>>();
  const witnesses = new Map<number, Pending<Judgement>>();

  const failAll = (err: Error) => {
    for (const p of [...trusts.values(), ...witnesses.values()]) p.reject(err);
    trusts.clear();
    witnesses.clear();
  };

  const onReply = (reply: TrustedGradientReply) => {
    if (reply.type === 'witnessed') {
      const pending = witnesses.get(reply.witness);
      witnesses.delete(reply.witness);
      pending?.resolve({ cosines: reply.cosines, gradient: reply.gradient });
      return;
    }
    const key = `${reply.rootKey}#${reply.snapshot}`;
    const pending = trusts.get(key);
    trusts.delete(key);
    if (reply.ok) pending?.resolve({ loss: reply.loss, batchNorm: reply.batchNorm, batchSquares: reply.batchSquares, ms: reply.ms });
    else pending?.reject(new Error(reply.message));
  };

  const ensureWorker = (): Worker => {
    if (worker) return worker;
    const w = startTsThread(entry);
    sent = new Set();
    w.unref();
    w.on('message', onReply);
    w.on('error', (err) => {
      log.error('trusted-gradient thread failed', { err });
      if (worker === w) worker = null;
      failAll(err);
    });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      failAll(new Error(`trusted-gradient thread exited with code ${code}`));
    });
    worker = w;
    return w;
  };

  const post = (msg: TrustedGradientMessage, transfer: ArrayBuffer[]) => ensureWorker().postMessage(msg, transfer);

  return {
    trust(req) {
      return new Promise((resolve, reject) => {
        trusts.set(`${req.rootKey}#${req.snapshot}`, { resolve, reject });
        const w = ensureWorker();
        const rootSet = sent.has(req.rootKey) ? undefined : req.rootSet();
        sent.add(req.rootKey);
        const { rootKey, snapshot, topology, tensors, values, batchSize, pieces } = req;
        w.postMessage({ type: 'trust', rootKey, snapshot, topology, tensors, rootSet, values, batchSize, ...(pieces ? { pieces } : {}) } satisfies TrustedGradientMessage, values.map((v) => v.buffer as ArrayBuffer));
      });
    },
    witness(rootKey, snapshot, gradient, ranges) {
      const witness = nextWitness++;
      return new Promise((resolve, reject) => {
        witnesses.set(witness, { resolve, reject });
        post({ type: 'witness', rootKey, snapshot, witness, gradient, ranges }, [gradient.buffer as ArrayBuffer]);
      });
    },
    forget(rootKey) {
      if (!sent.delete(rootKey)) return;
      worker?.postMessage({ type: 'forget', rootKey } satisfies TrustedGradientMessage);
    },
    async close() {
      const w = worker;
      worker = null;
      failAll(new Error('trusted-gradient service closed'));
      if (w) await w.terminate();
    },
  };
}

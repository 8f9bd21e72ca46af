/**
 * The trusted-gradient thread: the mean gradient of the loss over a job's root set at
 * the parameters it is sent (and its norm per mini-batch, for the norm bound), on tfjs's wasm backend, and the cosine of each witnessed
 * push with it. Both run here, off the coordinator's event loop. Each job's root set,
 * model and latest trusted gradient are kept under its key until it is forgotten.
 */
import { parentPort } from 'node:worker_threads';
import { ModelTrainer } from '../../client/engine/model-trainer.js';
import { initNodeTf } from '../tf-node.js';
import { pieceSquares, ReferenceNorms, type TensorPiece } from './reference-norms.js';
import type { RootSet } from './root-set.js';
import type { TrustedGradientMessage, TrustedGradientReply } from './trusted-gradient-messages.js';


type Trust = Extract<TrustedGradientMessage, { type: 'trust' }>;
type Witness = Extract<TrustedGradientMessage, { type: 'witness' }>;

interface Root {
  rootSet: RootSet | null;
  /** Built at the first snapshot (the thread needs tfjs started first). */
  trainer: ModelTrainer | null;
  /** The snapshot being computed or computed last; its gradient (flat) and norm once done. */
  snapshot: number;
  trusted: { gradient: Float64Array; norm: number } | null;
  /** Witnesses of the snapshot being computed, judged when it is done. */
  waiting: Witness[];
}

const roots = new Map<string, Root>();
const post = (reply: TrustedGradientReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(reply, transfer);

/**
 * The mean gradient over the root set, taken one mini-batch of the job's size at a time
 * (each batch's mean gradient weighted by its share of the examples), and the median
 * of the full batches' gradient norms: the norm per batch an honest worker pushes at
 * these parameters (all batches count when none is full: a root set smaller than a batch).
 * Those batches' sums of squares per tensor too (per ps task slice when `pieces` names
 * them): a split job's norm bound takes each stage's reference from its own tensors'
 * (reference-norms.ts), a ps task from its own slices'.
 */
async function rootGradient(trainer: ModelTrainer, rootSet: RootSet, values: Float32Array[], batchSize: number, pieces?: readonly TensorPiece[]): Promise<{ gradient: Float64Array; loss: number; batchNorm: number; batchSquares: number[][] }> {
  trainer.setParams(values);
  const count = rootSet.labels.length;
  const per = rootSet.featureShape.reduce((a, b) => a * b, 1);
  const gradient = new Float64Array(values.reduce((n, v) => n + v.length, 0));
  const full: number[][] = [];
  const all: number[][] = [];
  let loss = 0;
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const g = await trainer.gradient({ features: rootSet.features.subarray(start * per, (start + size) * per), labels: rootSet.labels.subarray(start, start + size), size });
    const w = size / count;
    let at = 0;
    for (const t of g.grads) {
      for (let i = 0; i < t.length; i++) gradient[at + i] = gradient[at + i]! + w * t[i]!;
      at += t.length;
    }
    (size === batchSize ? full : all).push(pieceSquares(g.grads, pieces));
    loss += w * g.loss;
  }
  const batchSquares = full.length > 0 ? full : all;
  return { gradient, loss, batchNorm: new ReferenceNorms(batchSquares).normOf(0, batchSquares[0]!.length), batchSquares };
}

/** cos(g, trusted) over elements [from, to) of both (a stage's part against the same tensors of the trusted gradient). */
function cosine(trusted: Root['trusted'], g: Float32Array, from: number, to: number): number | null {
  if (!trusted || trusted.norm === 0 || g.length !== trusted.gradient.length || from < 0 || to > g.length || from >= to) return null;
  const t = trusted.gradient;
  let dot = 0;
  let sq = 0;
  let tsq = 0;
  for (let i = from; i < to; i++) {
    dot += g[i]! * t[i]!;
    sq += g[i]! * g[i]!;
    tsq += t[i]! * t[i]!;
  }
  return sq === 0 || tsq === 0 ? null : dot / Math.sqrt(sq * tsq);
}

function judge(root: Root | undefined, w: Witness): void {
  const current = root && root.snapshot === w.snapshot ? root.trusted : null;
  const cosines = w.ranges.map(([from, to]) => cosine(current, w.gradient, from, to));
  post({ type: 'witnessed', rootKey: w.rootKey, witness: w.witness, cosines, gradient: w.gradient }, [w.gradient.buffer as ArrayBuffer]);
}

/**
 * Takes the snapshot's place at once, before anything is awaited, so that witnesses
 * arriving while it is computed wait for it; witnesses of the snapshot before go
 * unjudged (its gradient is being replaced).
 */
function beginTrust(msg: Trust): Root {
  const root: Root = roots.get(msg.rootKey) ?? { rootSet: null, trainer: null, snapshot: msg.snapshot, trusted: null, waiting: [] };
  roots.set(msg.rootKey, root);
  for (const w of root.waiting) judge(undefined, w);
  if (msg.rootSet) root.rootSet = msg.rootSet;
  Object.assign(root, { snapshot: msg.snapshot, trusted: null, waiting: [] });
  return root;
}

async function trust(msg: Trust, root: Root): Promise<void> {
  const started = performance.now();
  await initNodeTf('wasm');
  const rootSet = root.rootSet;
  if (!rootSet) throw new Error(`trusted-gradient thread has no root set "${msg.rootKey}"`);
  root.trainer ??= await ModelTrainer.create(msg.topology, msg.tensors, rootSet.featureShape, rootSet.numClasses);
  const { gradient, loss, batchNorm, batchSquares } = await rootGradient(root.trainer, rootSet, msg.values, msg.batchSize, msg.pieces);
  let sq = 0;
  for (let i = 0; i < gradient.length; i++) sq += gradient[i]! * gradient[i]!;
  if (!Number.isFinite(sq) || !Number.isFinite(batchNorm)) throw new Error(`the root set's gradient is not finite at snapshot ${msg.snapshot}`);
  if (root.snapshot !== msg.snapshot) return; // a newer snapshot arrived meanwhile
  root.trusted = { gradient, norm: Math.sqrt(sq) };
  post({ type: 'trusted', rootKey: msg.rootKey, snapshot: msg.snapshot, ok: true, loss, batchNorm, batchSquares, ms: performance.now() - started });
  for (const w of root.waiting) judge(root, w);
  root.waiting = [];
}

parentPort!.on('message', (msg: TrustedGradientMessage) => {
  switch (msg.type) {
    case 'trust':
      trust(msg, beginTrust(msg)).catch((err: unknown) => {
        post({ type: 'trusted', rootKey: msg.rootKey, snapshot: msg.snapshot, ok: false, message: err instanceof Error ? err.message : String(err) });
        const root = roots.get(msg.rootKey);
        if (root?.snapshot !== msg.snapshot) return;
        for (const w of root.waiting) judge(undefined, w);
        root.waiting = [];
      });
      return;
    case 'witness': {
      const root = roots.get(msg.rootKey);
      if (root?.snapshot === msg.snapshot && !root.trusted) root.waiting.push(msg);
      else judge(root, msg);
      return;
    }
    case 'forget':
      roots.get(msg.rootKey)?.trainer?.dispose();
      roots.delete(msg.rootKey);
      return;
    default: {
      const check: never = msg;
      throw new Error(`unknown message type ${(check as { type: unknown }).type}`);
    }
  }
});

/**
 * Standalone baseline for the overhead benchmark: the job's model trained in this tab
 * alone with a local tfjs optimizer, on a shard of the job's data, no coordinator in
 * the loop. `?backend=NAME&steps=N&warmup=W`. Result in window.benchResult.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeTensors } from '../shared/codec.js';
import { BACKENDS, type BackendName } from '../shared/protocol.js';
import { useBackend } from './engine/backends.js';
import { connectWorker } from './engine/connection.js';
import { ModelTrainer } from './engine/model-trainer.js';
import { batchesOf, fetchShard } from './engine/shard-data.js';

interface BenchResult {
  backend: BackendName;
  steps: number;
  batchSize: number;
  examplesPerSecond: number;
  numTensorsBefore: number;
  numTensorsAfter: number;
}

async function run(): Promise<BenchResult> {
  const q = new URLSearchParams(location.search);
  const backend = (q.get('backend') ?? 'wasm') as BackendName;
  if (!BACKENDS.includes(backend)) throw new Error(`Unknown backend ${backend}`);
  const steps = Number(q.get('steps') ?? 100);
  const warmup = Number(q.get('warmup') ?? 5);

  // Borrow the job's model, starting parameters and one shard from the coordinator.
  const socket = connectWorker();
  const hello = await socket.emitWithAck('worker:hello', { userAgent: navigator.userAgent, forcedBackend: backend });
  if (!hello.ok || !hello.job) throw new Error('The coordinator has no running job to benchmark');
  const job = hello.job;
  const snap = await socket.emitWithAck('params:pull', { jobId: job.jobId });
  const lease = await socket.emitWithAck('shard:lease', { jobId: job.jobId });
  if (!snap.ok || !lease.ok || !lease.lease) throw new Error('Could not get parameters and a shard');
  const shard = await fetchShard(lease.lease.url);
  socket.disconnect();

  if (!(await useBackend(backend))) throw new Error(`Backend ${backend} failed to initialise`);
  const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
  trainer.setParams(decodeTensors(snap, job.tensors));
  const optimizer = tf.train.adagrad(job.learningRate);
  let batches = batchesOf(shard, job.batchSize);
  const nextBatch = () => {
    let b = batches.next();
    if (b.done) {
      batches = batchesOf(shard, job.batchSize);
      b = batches.next();
    }
    return b.value!;
  };
  for (let i = 0; i < warmup; i++) await trainer.localStep(optimizer, nextBatch());
  const numTensorsBefore = tf.memory().numTensors;
  let examples = 0;
  const started = performance.now();
  for (let i = 0; i < steps; i++) {
    const b = nextBatch();
    await trainer.localStep(optimizer, b);
    examples += b.size;
  }
  const seconds = (performance.now() - started) / 1000;
  const numTensorsAfter = tf.memory().numTensors;
  trainer.dispose();
  optimizer.dispose();
  return { backend, steps, batchSize: job.batchSize, examplesPerSecond: examples / seconds, numTensorsBefore, numTensorsAfter };
}

const w = window as unknown as { benchResult?: BenchResult; benchError?: string };
run().then(
  (r) => {
    w.benchResult = r;
    document.getElementById('out')!.textContent = JSON.stringify(r, null, 2);
  },
  (err: unknown) => {
    w.benchError = err instanceof Error ? err.message : String(err);
    document.getElementById('out')!.textContent = w.benchError;
  },
);

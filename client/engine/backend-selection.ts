/**
 * Picks the backend this tab trains on: each usable backend trains the job's model
 * for a moment and the fastest wins, unless the page was told which one to use.
 * The choice is remembered per model through a {@link BackendCache}: the engine runs in
 * a Web Worker, which has no localStorage, so the page keeps the entries and hands
 * them over (see engine-messages.ts).
 */
import { BACKEND_CACHE_PREFIX, NO_BACKEND_CACHE, type BackendCache } from './backend-cache.js';
import type { AdapterInfo, BackendName, JobAssignment } from '../../shared/protocol.js';
import { listCandidates, probeWebGpu, useBackend } from './backends.js';
import { ModelTrainer, type Batch } from './model-trainer.js';

export interface BackendSelection {
  backend: BackendName;
  adapter: AdapterInfo | null;
  /** Why WebGPU is not used automatically here, if it is not. */
  webgpuUnavailable: string | null;
  /** examples/s per measured backend, or why it was skipped or failed. */
  measured: Partial<Record<BackendName, number | string>>;
  cached: boolean;
}

const MEASURE_MS = 400;

function randomBatch(job: JobAssignment): Batch {
  const len = job.dataset.featureShape.reduce((a, b) => a * b, 1);
  const size = job.batchSize;
  const features = new Float32Array(size * len).map(() => Math.random());
  const labels = new Uint8Array(size).map(() => Math.floor(Math.random() * job.dataset.numClasses));
  return { features, labels, size };
}

/** Examples per second of gradient steps on the current backend. */
async function measure(job: JobAssignment): Promise<number> {
  const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
  try {
    const batch = randomBatch(job);
    await trainer.gradient(batch); // compiles shaders / warms caches
    const started = performance.now();
    let steps = 0;
    do {
      await trainer.gradient(batch);
      steps++;
    } while (performance.now() - started < MEASURE_MS);
    return (steps * batch.size * 1000) / (performance.now() - started);
  } finally {
    trainer.dispose();
  }
}

function cacheKey(job: JobAssignment): string {
  // FNV-1a over the topology: the same model measures the same on the same machine.
  const text = JSON.stringify(job.topology) + job.batchSize;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return `${BACKEND_CACHE_PREFIX}${h.toString(16)}`;
}


export async function selectBackend(
  job: JobAssignment,
  forced: BackendName | null,
  onProgress: (message: string) => void = () => {},
  cache: BackendCache = NO_BACKEND_CACHE,
): Promise<BackendSelection> {
  const webgpu = await probeWebGpu();
  const base = { adapter: webgpu.adapter, webgpuUnavailable: webgpu.unavailable };
  if (forced) {
    if (!(await useBackend(forced))) throw new Error(`The requested backend "${forced}" could not be initialised in this browser`);
    return { ...base, backend: forced, measured: {}, cached: false };
  }
  const candidates = await listCandidates(webgpu);
  const key = cacheKey(job);
  const known = cache.get(key);
  if (known && candidates.some((c) => c.name === known && !c.excluded) && (await useBackend(known))) {
    return { ...base, backend: known, measured: {}, cached: true };
  }
  const measured: BackendSelection['measured'] = {};
  let best: { name: BackendName; eps: number } | null = null;
  for (const c of candidates) {
    if (c.excluded) {
      measured[c.name] = `skipped: ${c.excluded}`;
      continue;
    }
    onProgress(`measuring ${c.name}…`);
    if (!(await useBackend(c.name))) {
      measured[c.name] = 'failed to initialise';
      continue;
    }
    try {
      const eps = await measure(job);
      measured[c.name] = Math.round(eps);
      if (!best || eps > best.eps) best = { name: c.name, eps };
    } catch (err) {
      measured[c.name] = `failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  if (!best) throw new Error(`No backend can train this model here (${JSON.stringify(measured)})`);
  await useBackend(best.name);
  cache.set(key, best.name);
  return { ...base, backend: best.name, measured, cached: false };
}

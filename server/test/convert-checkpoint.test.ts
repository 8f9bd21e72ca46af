/**
 * `npm run convert-checkpoint`: a real coordinator trains and checkpoints, then the CLI
 * (a child process, as an operator runs it) turns the checkpoint into a tfjs model that
 * stock tf.loadLayersModel reads, with the checkpoint's exact weights: from the data
 * dir it lies in, and from a model.json of the job; a file with neither is refused
 * with the way out.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { sizeOf } from '../../shared/tensors.js';
import { decodeCheckpoint } from '../checkpoints/checkpoint-format.js';
import { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import type { ModelMetadata } from '../http/model-export.js';
import { LeasedPusher, joinAssigned, startCoordinator, type TestWorker } from '../../test-support/index.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

let checkpointFile: string;
let jobId: string;

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-convert-'));
  const coordinator = await startCoordinator({ model: 'mlp', dataset: 'iris', name: 'Iris to convert' }, { dataDir });
  const sockets: TestWorker[] = [];
  try {
    const { w, job } = await joinAssigned(coordinator.url, sockets, 'vitest-convert');
    const pusher = new LeasedPusher(w, job.jobId);
    for (let v = 0; v < 3; v++) {
      const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: Float32Array.from({ length: sizeOf(t.shape) }, (_, i) => ((i % 7) - 3) * 1e-2) })));
      const r = await pusher.push({ baseVersion: v, loss: 1, ...payload });
      if (!r.ok) throw new Error(r.message);
    }
    await coordinator.job.evaluateIfChanged();
    jobId = coordinator.job.id;
  } finally {
    for (const s of sockets) s.disconnect();
    await coordinator.close(); // checkpoints the final version
  }
  const store = new CheckpointStore(join(dataDir, 'checkpoints'));
  const last = (await store.list(jobId)).at(-1)!;
  checkpointFile = join(dataDir, 'checkpoints', jobId, last.name);
});

function convert(...args: string[]) {
  return run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/convert-checkpoint.ts'), ...args], { cwd: ROOT });
}

/** Loads OUT/model.json over HTTP, as a user serving the folder would. */
async function load(dir: string): Promise<tf.LayersModel> {
  const server = createServer((req, res) => {
    try {
      res.writeHead(200).end(readFileSync(join(dir, req.url!.slice(1))));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await tf.loadLayersModel(`http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`);
  } finally {
    server.close();
  }
}

async function expectCheckpointWeights(model: tf.LayersModel): Promise<void> {
  const saved = decodeCheckpoint(readFileSync(checkpointFile)).store.tensors.map((t) => Array.from(t.values));
  expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(saved);
}

it('converts a checkpoint using the data dir it lies in', { timeout: 120_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'downpour-converted-'));
  await convert(checkpointFile, out);
  const model = await load(out);
  await expectCheckpointWeights(model);
  const meta = model.getUserDefinedMetadata() as ModelMetadata;
  expect(meta).toMatchObject({ jobId, jobName: 'Iris to convert', version: 3, dataset: 'iris', inputShape: [4], classNames: ['setosa', 'versicolor', 'virginica'], evaluatedVersion: 3 });
  expect(meta.testAccuracy).toEqual(expect.any(Number));
  expect(readFileSync(join(out, 'README.txt'), 'utf8')).toMatch(/version 3/);
  model.dispose();

  // A downloaded checkpoint, away from any data dir, with the job's model.json beside it.
  const elsewhere = mkdtempSync(join(tmpdir(), 'downpour-download-'));
  copyFileSync(checkpointFile, join(elsewhere, 'ckpt.dpck'));
  const out2 = join(elsewhere, 'model');
  await convert(join(elsewhere, 'ckpt.dpck'), out2, '--model', join(out, 'model.json'));
  const again = await load(out2);
  await expectCheckpointWeights(again);
  expect((again.getUserDefinedMetadata() as ModelMetadata).classNames).toEqual(['setosa', 'versicolor', 'virginica']);
  again.dispose();

  const refused = await convert(join(elsewhere, 'ckpt.dpck'), join(elsewhere, 'nope')).then(
    () => null,
    (err: { code: number; stderr: string }) => err,
  );
  expect(refused?.code).toBe(1);
  expect(refused?.stderr).toMatch(/no job store at .*--model/);
});

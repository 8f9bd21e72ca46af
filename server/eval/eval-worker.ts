/**
 * The evaluation thread: scores parameter snapshots on a dataset's test split off the
 * coordinator's event loop. Models are cached per topology, test sets per dataset.
 */
import { parentPort } from 'node:worker_threads';
import type * as tfTypes from '@tensorflow/tfjs';
import { modelFromTopology } from '../../shared/models.js';
import { initNodeTf, tf } from '../tf-node.js';
import type { EvalReply, EvalRequest, TestSet } from './messages.js';
import { scoreModel } from './score.js';

const models = new Map<string, tfTypes.LayersModel>();
const testSets = new Map<string, TestSet>();

async function evaluate(req: EvalRequest): Promise<EvalReply> {
  const started = performance.now();
  await initNodeTf('wasm');
  const key = JSON.stringify(req.topology);
  let model = models.get(key);
  if (!model) {
    model = await modelFromTopology(req.topology);
    models.set(key, model);
  }
  if (req.testSet) testSets.set(req.datasetKey, req.testSet);
  const test = testSets.get(req.datasetKey);
  if (!test) throw new Error(`evaluation thread has no test set "${req.datasetKey}"`);
  const weights = req.values.map((v, i) => tf.tensor(v, req.tensors[i]!.shape));
  try {
    model.setWeights(weights);
  } finally {
    tf.dispose(weights);
  }
  const s = scoreModel(model, test.features, test.labels, test.featureShape, test.numClasses);
  return { id: req.id, ok: true, ...s, ms: performance.now() - started };
}

parentPort!.on('message', (req: EvalRequest) => {
  evaluate(req).then(
    (reply) => parentPort!.postMessage(reply),
    (err: unknown) => parentPort!.postMessage({ id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) }),
  );
});

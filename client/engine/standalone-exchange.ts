/**
 * Bench only: the overhead benchmark's baseline (client/bench.ts), one person training
 * alone in one tab. It runs inside the same WorkerEngine loop as a volunteer's exchange
 * (lease, shard download, batches, throttle, status), so the two sides of the bench
 * differ only here. start() pulls the job's parameters once; each train() is a local
 * tfjs optimizer step (ModelTrainer.localStep: the update is applied on the backend and
 * only the loss is read back, no gradient download); nothing is pushed or pulled again,
 * so flush() has nothing to send. The volunteer page never selects it.
 *
 * The tab is its own parameter server: each step is reported as an accepted push of its
 * batch (staleness 0, the next local version), so the engine's status counts examples
 * as it counts a distributed worker's accepted pushes and the bench times both sides
 * from the same counter.
 */
import * as tf from '@tensorflow/tfjs';
import type { JobAssignment } from '../../shared/protocol.js';
import type { Exchange, ExchangeEvents, ExchangeTransport } from './exchange.js';
import { tfjsOptimizer } from './local-optimizer.js';
import type { Batch, ModelTrainer } from './model-trainer.js';
import { PulledParams } from './pulled-params.js';

export interface StandaloneOptions {
  /** Batches per loss report. Default: 10. */
  lossEvery?: number;
  /** The mean training loss of the last `lossEvery` batches, and the local step count. Default: none. */
  onLoss?: (meanLoss: number, steps: number) => void;
}

/**
 * The optimizer a person training alone would use: local mode's is in the assignment;
 * the other modes' assignments carry only the PS's learning rate, not its rule, so
 * Adagrad (Downpour's, and the job spec's default), whose tfjs initial accumulator
 * (0.1) is also the spec's default.
 */
function standaloneOptimizer(job: JobAssignment): tf.Optimizer {
  return job.mode.name === 'local' ? tfjsOptimizer(job.mode.optimizer) : tf.train.adagrad(job.learningRate);
}

export class StandaloneExchange implements Exchange {
  private readonly optimizer: tf.Optimizer;
  private readonly params: PulledParams;
  private readonly lossEvery: number;
  private version = 0;
  private steps = 0;
  private lossSum = 0;

  constructor(
    job: JobAssignment,
    private readonly trainer: ModelTrainer,
    transport: Pick<ExchangeTransport, 'pull'>,
    private readonly events: ExchangeEvents,
    private readonly options: StandaloneOptions = {},
  ) {
    this.lossEvery = options.lossEvery ?? 10;
    if (!(Number.isInteger(this.lossEvery) && this.lossEvery >= 1)) throw new RangeError(`lossEvery must be a whole number ≥ 1, got ${this.lossEvery}`);
    this.optimizer = standaloneOptimizer(job);
    this.params = new PulledParams(job, transport);
  }

  async start(): Promise<void> {
    const { version, values } = await this.params.pull();
    this.trainer.setParams(values);
    this.version = version;
    this.events.pulled(version);
  }

  async train(batch: Batch, leaseId: string): Promise<void> {
    this.lossSum += await this.trainer.localStep(this.optimizer, batch);
    this.steps += 1;
    this.version += 1;
    this.events.pushed({ ok: true, version: this.version, staleness: 0 }, { leaseId, examples: batch.size });
    if (this.steps % this.lossEvery === 0) {
      this.options.onLoss?.(this.lossSum / this.lossEvery, this.steps);
      this.lossSum = 0;
    }
  }

  async flush(): Promise<void> {}

  dispose(): void {
    this.optimizer.dispose();
  }
}

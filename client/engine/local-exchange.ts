/**
 * Local mode (local SGD / DiLoCo, Douillard et al. 2023): the worker trains its own
 * replica for `localSteps` mini-batches with its own tfjs optimizer (whose state lives
 * on across rounds), then pushes its parameter delta, start − end, as the "gradient"
 * for the version it started from. The server averages the round's deltas and applies
 * its outer Nesterov step; the ack comes when the round closes, and the worker pulls
 * the round's parameters as its next start.
 */
import type * as tf from '@tensorflow/tfjs';
import { codecOf } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { GradientAccumulator } from './gradient-accumulator.js';
import { tfjsOptimizer } from './local-optimizer.js';
import type { Batch, ModelTrainer } from './model-trainer.js';
import { leaseOfPush, type Exchange, type ExchangeEvents, type ExchangeTransport } from './exchange.js';
import { PulledParams } from './pulled-params.js';

type LocalMode = Extract<JobAssignment['mode'], { name: 'local' }>;

export class LocalExchange implements Exchange {
  private readonly acc: GradientAccumulator;
  private readonly optimizer: tf.Optimizer;
  private readonly params: PulledParams;
  /** Parameters at the start of the round (as pulled). */
  private startValues: Float32Array[] = [];
  private readonly delta: Float32Array[];
  private baseVersion = 0;
  /** The lease of the round's batches. */
  private lease: string | null = null;
  private steps = 0;
  private examples = 0;
  private lossSum = 0;

  constructor(
    private readonly job: JobAssignment,
    private readonly mode: LocalMode,
    private readonly trainer: ModelTrainer,
    private readonly transport: ExchangeTransport,
    private readonly events: ExchangeEvents,
  ) {
    this.acc = new GradientAccumulator(job.tensors, codecOf(job));
    this.optimizer = tfjsOptimizer(mode.optimizer);
    this.params = new PulledParams(job, transport);
    this.delta = trainer.specs.map((s) => new Float32Array(s.shape.reduce((a, b) => a * b, 1)));
  }

  async start(): Promise<void> {
    await this.pullAndLoad();
  }

  async train(batch: Batch, leaseId: string): Promise<void> {
    this.lease = leaseOfPush(this.lease, this.steps, leaseId);
    this.lossSum += await this.trainer.localStep(this.optimizer, batch);
    this.steps += 1;
    this.examples += batch.size;
    if (this.steps >= this.mode.localSteps) await this.round();
  }

  async flush(): Promise<void> {
    if (this.steps > 0) await this.round();
  }

  dispose(): void {
    this.optimizer.dispose();
  }

  /** Pushes start − end for the round, waits for it to close, starts again from its result. */
  private async round(): Promise<void> {
    const end = await this.trainer.readParams();
    this.delta.forEach((d, t) => {
      const s = this.startValues[t]!;
      const e = end[t]!;
      for (let i = 0; i < d.length; i++) d[i] = s[i]! - e[i]!;
    });
    const { steps, examples } = this;
    const leaseId = this.lease!;
    const loss = this.lossSum / steps;
    this.steps = 0;
    this.examples = 0;
    this.lossSum = 0;
    this.acc.add(this.delta, loss, examples);
    const payload = this.acc.take();
    // batches = steps: the server's norm bound compares the delta's norm per local step.
    const r = await this.transport.push({ jobId: this.job.jobId, leaseId, baseVersion: this.baseVersion, batches: steps, loss, ...payload });
    this.events.pushed(r, { leaseId, examples });
    await this.pullAndLoad();
  }

  private async pullAndLoad(): Promise<void> {
    const { version, values } = await this.params.pull();
    this.events.pulled(version);
    this.startValues = values;
    this.trainer.setParams(values);
    this.baseVersion = version;
  }
}

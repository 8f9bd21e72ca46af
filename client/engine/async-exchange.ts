/**
 * The worker's side of Downpour (async and staleness-aware modes): accumulates
 * gradients, pushes them every nPush mini-batches stamped with the parameter version
 * they were computed against, and pulls fresh parameters every nFetch mini-batches.
 *
 * Pushes are encoded with the job's codec; with a lossy codec the accumulator keeps
 * what a push did not carry and adds it to the next one (error feedback).
 *
 * Round trips overlap computation: the push and pull of batch k are sent at once and
 * answered while batch k+1 computes; their parameters load before batch k+2. This
 * costs one version of staleness, which Downpour's asynchronous design (and Adagrad on
 * the PS) absorbs, and hides the network latency from the training loop. The round
 * modes cannot overlap and have their own exchanges (sync-exchange.ts,
 * local-exchange.ts); createExchange picks by the job's mode.
 */
import { codecOf } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { leaseOfPush, type Exchange, type ExchangeEvents, type ExchangeTransport } from './exchange.js';
import { GradientAccumulator } from './gradient-accumulator.js';
import type { Batch, ModelTrainer } from './model-trainer.js';
import { PulledParams } from './pulled-params.js';

export class AsyncExchange implements Exchange {
  private readonly acc: GradientAccumulator;
  private readonly params: PulledParams;
  /** Version of the parameters loaded in the model (what the next gradient is computed on). */
  private baseVersion = 0;
  /** Version the oldest gradient in the accumulator was computed on: the push's stamp. */
  private accumulatedSince = 0;
  private step = 0;
  /** The lease of the accumulated batches. */
  private lease: string | null = null;
  private inflight: Promise<Float32Array[] | null> | null = null;
  private inflightVersion = 0;

  constructor(
    private readonly job: JobAssignment,
    private readonly trainer: ModelTrainer,
    private readonly transport: ExchangeTransport,
    private readonly events: ExchangeEvents,
  ) {
    // One codec (and one error-feedback residual) for the whole assignment.
    this.acc = new GradientAccumulator(job.tensors, codecOf(job));
    this.params = new PulledParams(job, transport);
  }

  async start(): Promise<void> {
    const values = await this.pullNow();
    this.trainer.setParams(values);
    this.baseVersion = this.inflightVersion;
  }

  /** Records the batch's gradient; sends what is due and applies what has arrived. */
  async train(batch: Batch, leaseId: string): Promise<void> {
    this.lease = leaseOfPush(this.lease, this.acc.batches, leaseId);
    const g = await this.trainer.gradient(batch);
    // Stamp before settle(): loading newer parameters must not make this gradient look fresher than it is.
    if (this.acc.batches === 0) this.accumulatedSince = this.baseVersion;
    this.acc.add(g.grads, g.loss, batch.size);
    this.step += 1;
    await this.settle();
    // nPush batches of the lease, counted from its first batch or the last push: what the coordinator expects.
    const push = this.acc.batches >= this.job.nPush ? this.sendPush() : null;
    const pull = this.step % this.job.nFetch === 0 ? this.pullNow() : null;
    if (push || pull) this.inflight = Promise.all([push, pull]).then(([, values]) => values);
  }

  async flush(): Promise<void> {
    await this.settle();
    const push = this.sendPush();
    if (push) await push;
  }

  dispose(): void {}

  /** Waits for the exchange in flight and loads the parameters it brought. */
  private async settle(): Promise<void> {
    if (!this.inflight) return;
    const values = await this.inflight;
    this.inflight = null;
    if (values) {
      this.trainer.setParams(values);
      this.baseVersion = this.inflightVersion;
    }
  }

  private sendPush(): Promise<void> | null {
    if (!this.acc.batches || !this.lease) return null;
    const { batches, examples } = this.acc;
    const leaseId = this.lease;
    const loss = this.acc.meanLoss;
    const payload = this.acc.take();
    const sent = this.transport.push({ jobId: this.job.jobId, leaseId, baseVersion: this.accumulatedSince, batches, loss, ...payload });
    return sent.then((r) => this.events.pushed(r, { leaseId, examples }));
  }

  private async pullNow(): Promise<Float32Array[]> {
    const { version, values } = await this.params.pull();
    this.inflightVersion = version;
    this.events.pulled(version);
    return values;
  }
}

/**
 * Sync mode on the worker: no overlap. Every nPush mini-batches it pushes the
 * accumulated gradient for the version it has loaded; the ack is held until the server
 * closes the round, then the worker pulls the round's version and only then computes
 * its next gradient (nFetch does not apply). A LATE refusal (the round closed without
 * this worker) drops the gradient; the pull still brings the worker up to date.
 */
import { codecOf } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { leaseOfPush, type Exchange, type ExchangeEvents, type ExchangeTransport } from './exchange.js';
import { GradientAccumulator } from './gradient-accumulator.js';
import type { Batch, ModelTrainer } from './model-trainer.js';
import { PulledParams } from './pulled-params.js';

export class SyncExchange implements Exchange {
  private readonly acc: GradientAccumulator;
  private readonly params: PulledParams;
  /** Version of the loaded parameters: every accumulated gradient is computed on it, and the push is stamped with it. */
  private baseVersion = 0;
  /** The lease of the accumulated batches. */
  private lease: string | null = null;

  constructor(
    private readonly job: JobAssignment,
    private readonly trainer: ModelTrainer,
    private readonly transport: ExchangeTransport,
    private readonly events: ExchangeEvents,
  ) {
    this.acc = new GradientAccumulator(job.tensors, codecOf(job));
    this.params = new PulledParams(job, transport);
  }

  async start(): Promise<void> {
    await this.pullAndLoad();
  }

  async train(batch: Batch, leaseId: string): Promise<void> {
    this.lease = leaseOfPush(this.lease, this.acc.batches, leaseId);
    const g = await this.trainer.gradient(batch);
    this.acc.add(g.grads, g.loss, batch.size);
    if (this.acc.batches >= this.job.nPush) await this.round();
  }

  async flush(): Promise<void> {
    await this.round();
  }

  dispose(): void {}

  /** Pushes for the loaded version, waits for the round to close, loads its parameters. */
  private async round(): Promise<void> {
    if (!this.acc.batches || !this.lease) return;
    const { batches, examples } = this.acc;
    const leaseId = this.lease;
    const loss = this.acc.meanLoss;
    const payload = this.acc.take();
    const r = await this.transport.push({ jobId: this.job.jobId, leaseId, baseVersion: this.baseVersion, batches, loss, ...payload });
    this.events.pushed(r, { leaseId, examples });
    await this.pullAndLoad();
  }

  private async pullAndLoad(): Promise<void> {
    const { version, values } = await this.params.pull();
    this.events.pulled(version);
    this.trainer.setParams(values);
    this.baseVersion = version;
  }
}

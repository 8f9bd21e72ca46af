/**
 * The worker's side of Downpour: accumulates gradients, pushes them every nPush
 * mini-batches stamped with the parameter version they were computed against, and
 * pulls fresh parameters every nFetch mini-batches.
 *
 * Pushes are encoded with the job's codec; with a lossy codec the accumulator keeps
 * what a push did not carry and adds it to the next one (error feedback).
 *
 * Round trips overlap computation: the push and pull of batch k are sent at once and
 * answered while batch k+1 computes; their parameters load before batch k+2. This
 * costs one version of staleness, which Downpour's asynchronous design (and Adagrad on
 * the PS) absorbs, and hides the network latency from the training loop.
 *
 * In sync mode there is no overlap: the push's ack comes when the server closes the
 * round, then the worker pulls the round's version and only then computes the next
 * gradient (nFetch does not apply). Local mode has its own exchange
 * (local-exchange.ts); createExchange picks by the job's mode.
 */
import { codecOf } from '../../shared/codec.js';
import type { GradientPush, JobAssignment, ParamsSnapshot, PullRequest, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { GradientAccumulator } from './gradient-accumulator.js';
import type { Batch, BatchGradient, ModelTrainer } from './model-trainer.js';
import { PulledParams } from './pulled-params.js';

export interface ExchangeTransport {
  push(push: GradientPush): Promise<Result<PushAccepted>>;
  pull(req: PullRequest): Promise<Result<ParamsSnapshot>>;
}

export interface ExchangeEvents {
  pushed(result: Result<PushAccepted>, examples: number): void;
  pulled(version: number): void;
}

/** What the training loop drives, whatever the job's consistency mode. */
export interface Exchange {
  /** Loads the current parameters before the first batch. */
  start(): Promise<void>;
  /** Trains on one mini-batch and exchanges what is due. */
  train(batch: Batch): Promise<void>;
  /** Pushes whatever is pending and waits for every answer (end of a shard). */
  flush(): Promise<void>;
  dispose(): void;
}

export class ParameterExchange implements Exchange {
  private readonly acc: GradientAccumulator;
  private readonly params: PulledParams;
  /** Version of the parameters loaded in the model (what the next gradient is computed on). */
  private baseVersion = 0;
  /** Version the oldest gradient in the accumulator was computed on: the push's stamp. */
  private accumulatedSince = 0;
  private step = 0;
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

  /** Loads the current parameters before the first batch. */
  async start(): Promise<void> {
    const values = await this.pullNow();
    this.trainer.setParams(values);
    this.baseVersion = this.inflightVersion;
  }

  async train(batch: Batch): Promise<void> {
    await this.afterBatch(await this.trainer.gradient(batch), batch.size);
  }

  /** Records one batch's gradient; sends what is due and applies what has arrived. */
  async afterBatch(g: BatchGradient, examples: number): Promise<void> {
    if (this.job.mode.name === 'sync') {
      this.acc.add(g.grads, g.loss, examples);
      this.step += 1;
      if (this.step % this.job.nPush === 0) await this.syncRound();
      return;
    }
    // Stamp before settle(): loading newer parameters must not make this gradient look fresher than it is.
    if (this.acc.batches === 0) this.accumulatedSince = this.baseVersion;
    this.acc.add(g.grads, g.loss, examples);
    this.step += 1;
    await this.settle();
    const push = this.step % this.job.nPush === 0 ? this.sendPush() : null;
    const pull = this.step % this.job.nFetch === 0 ? this.pullNow() : null;
    if (push || pull) this.inflight = Promise.all([push, pull]).then(([, values]) => values);
  }

  /** Pushes whatever is accumulated and waits for every answer (end of a shard). */
  async flush(): Promise<void> {
    if (this.job.mode.name === 'sync') return this.syncRound();
    await this.settle();
    const push = this.sendPush();
    if (push) await push;
  }

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

  /**
   * Sync mode: push for the loaded version, wait for the round to close (the ack is
   * held until then), load the round's parameters. A LATE refusal (the round closed
   * without us) drops this gradient; the pull still brings the worker up to date.
   */
  private async syncRound(): Promise<void> {
    if (!this.acc.batches) return;
    this.accumulatedSince = this.baseVersion;
    await this.sendPush();
    this.trainer.setParams(await this.pullNow());
    this.baseVersion = this.inflightVersion;
  }

  dispose(): void {}

  private sendPush(): Promise<void> | null {
    if (!this.acc.batches) return null;
    const { batches, examples } = this.acc;
    const loss = this.acc.meanLoss;
    const payload = this.acc.take();
    const sent = this.transport.push({ jobId: this.job.jobId, baseVersion: this.accumulatedSince, batches, examples, loss, ...payload });
    return sent.then((r) => this.events.pushed(r, examples));
  }

  private async pullNow(): Promise<Float32Array[]> {
    const { version, values } = await this.params.pull();
    this.inflightVersion = version;
    this.events.pulled(version);
    return values;
  }
}

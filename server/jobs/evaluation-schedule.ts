/**
 * A job's evaluations: scores the parameters on the test set when their version moved,
 * one evaluation at a time, and keeps the records (oldest first) and the latest
 * confusion matrix. What a score means for the job (diverged, target reached) is the
 * job's to decide: it is told through `onScored`.
 */
import type { EvalRecord } from '../../shared/protocol.js';
import type { Clock } from '../clock.js';
import { featuresAsFloat, type Dataset } from '../data/dataset.js';
import type { EvaluationService } from '../eval/evaluator.js';
import { createLogger } from '../logger.js';
import type { ParameterView } from '../params/parameter-service.js';

const log = createLogger('job');

export interface Confusion {
  version: number;
  matrix: number[][];
}

export interface EvaluationScheduleDeps {
  jobId: string;
  topology: object;
  dataset: Dataset;
  evaluation: EvaluationService;
  parameters: ParameterView;
  clock: Clock;
  /** Examples trained on so far (recorded with each score). */
  examplesSeen: () => number;
  /**
   * A score came back: a record (with its confusion matrix) to pass on, or, when the
   * test loss is not finite, null and the loss. The job decides what follows.
   */
  onScored: (rec: (EvalRecord & { confusion: number[][] }) | null, version: number, loss: number) => void;
}

export class EvaluationSchedule {
  /** Oldest first, without their confusion matrices (only the latest is kept). */
  private readonly records: EvalRecord[] = [];
  private latest: Confusion | null = null;
  private inFlight: Promise<EvalRecord | null> | null = null;
  private lastVersion = -1;

  constructor(private readonly deps: EvaluationScheduleDeps) {}

  get evals(): readonly EvalRecord[] {
    return this.records;
  }

  get confusion(): Confusion | null {
    return this.latest;
  }

  /** An evaluation in flight, if any (shutdown waits for it). */
  get pending(): Promise<EvalRecord | null> | null {
    return this.inFlight;
  }

  /** Takes back records a store kept (start-up). */
  restore(evals: readonly EvalRecord[], confusion: Confusion | null): void {
    this.records.push(...evals);
    this.latest = confusion;
  }

  /** Evaluates the current parameters unless this version was already scored. */
  ifChanged(): Promise<EvalRecord | null> {
    if (this.inFlight) return this.inFlight;
    if (this.deps.parameters.version === this.lastVersion) return Promise.resolve(this.records.at(-1) ?? null);
    this.inFlight = this.evaluate().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async evaluate(): Promise<EvalRecord | null> {
    const { jobId, dataset: ds } = this.deps;
    const examplesSeen = this.deps.examplesSeen();
    try {
      const { version, specs, values } = await this.deps.parameters.values();
      const r = await this.deps.evaluation.evaluate({
        topology: this.deps.topology,
        tensors: specs.map((s) => ({ name: s.name, shape: [...s.shape] })),
        values,
        datasetKey: ds.name,
        testSet: () => ({ features: featuresAsFloat(ds, ds.test), labels: ds.test.labels, featureShape: ds.featureShape, numClasses: ds.numClasses }),
      });
      this.lastVersion = version;
      if (!Number.isFinite(r.loss)) {
        this.deps.onScored(null, version, r.loss);
        return null;
      }
      const rec: EvalRecord = { version, examplesSeen, accuracy: r.accuracy, loss: r.loss, at: this.deps.clock.now() };
      this.records.push(rec);
      this.latest = { version, matrix: r.confusion };
      log.info('evaluated', { job: jobId, version, accuracy: +r.accuracy.toFixed(4), loss: +r.loss.toFixed(4), ms: Math.round(r.ms) });
      this.deps.onScored({ ...rec, confusion: r.confusion }, version, r.loss);
      return rec;
    } catch (err) {
      log.warn('evaluation failed', { job: jobId, err });
      return null;
    }
  }
}

/**
 * Byzantine defence against gradients that point the wrong way (a sign-flipped
 * gradient keeps an honest norm, so the norm bound lets it through): a trusted
 * direction in the spirit of FLTrust (Cao et al., NDSS 2021). Every refresh the
 * parameter server snapshots its parameters at version v and has its thread take the
 * gradient of a root set of training examples there (trusted-snapshots.ts). Pushes
 * computed at (nearly) the same parameters (base version within VERSION_TOLERANCE of
 * v) are witnessed: their gradient goes to the thread, which returns its cosine with the
 * trusted gradient. A worker whose last WINDOW witnessed cosines average below the
 * threshold has every push refused (DIRECTION_OUTLIER) until they no longer do.
 *
 * Why per worker and at the same parameters (docs/byzantine.md has the figures): a
 * single mini-batch's gradient is noisy and the loss surface turns fast, so against a
 * trusted gradient even a few dozen versions old honest pushes scatter around a cosine
 * of zero; at the same version honest pushes have cosines mostly above zero and
 * sign-flipped ones mostly below, and the mean of a few separates them. Few pushes are
 * witnessed (those based near a snapshot), so the verdict is per worker.
 *
 * The event loop does no arithmetic over a model here: a witnessed push is one copy of
 * its gradient into a buffer that travels to the thread and back; verdicts change in
 * one assignment when a cosine arrives. If the thread fails, the check is off (every
 * verdict dropped, nothing refused) until a refresh succeeds again.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import { MODES } from '../../shared/modes.js';
import { fail, type Failure } from '../../shared/result.js';
import { createLogger } from '../logger.js';
import type { ParameterStore } from './parameter-store.js';
import type { Judgement, TrustedGradientService } from './trusted-gradient.js';
import type { TrustedSnapshots } from './trusted-snapshots.js';

const log = createLogger('direction');

/** Witnessed cosines averaged per worker: one can be an honest outlier, the mean of four rarely is. */
export const WINDOW = 4;
/**
 * How far (in versions) from the snapshot a push may have been computed and still be
 * compared with its trusted gradient. A version of an async mode is one worker's
 * gradient, and pushes two versions off compare as well as those on it; a version of
 * a round mode is a whole round's step, after which honest cosines already scatter
 * (docs/byzantine.md), so only the snapshot's own round is compared.
 */
export const VERSION_TOLERANCE = { async: 2, rounds: 0 } as const;
/** Gradient buffers on their way to the thread and back: the most pushes witnessed at once. */
const BUFFERS = 4;

export interface DirectionCheckDeps {
  store: ParameterStore;
  service: TrustedGradientService;
  snapshots: TrustedSnapshots;
  /** Names the job's root set in the thread. */
  rootKey: string;
  /** A worker is refused while the mean of its last witnessed cosines is below this. */
  threshold: number;
  /** VERSION_TOLERANCE for the job's mode. */
  versionTolerance: number;
}

/**
 * A part of a push judged on its own: tensors [from, to) of the job's and whose they
 * are. A data-parallel push is one part (its worker's, every tensor); a replica step's
 * are its stages' parts, each compared with the same tensors of the trusted gradient
 * and judged under its stage's worker.
 */
export interface JudgedPart {
  worker: string;
  from: number;
  to: number;
}

/** The job's check as its spec asks: none when directionThreshold is null or the job has no snapshots (local mode). */
export function directionCheckFor(
  spec: Pick<JobSpec, 'directionThreshold' | 'mode'>,
  deps: Omit<DirectionCheckDeps, 'threshold' | 'versionTolerance' | 'snapshots'> & { snapshots: TrustedSnapshots | null },
): DirectionCheck | null {
  const { directionThreshold: threshold, mode } = spec;
  const { snapshots, ...rest } = deps;
  if (threshold === null || !snapshots) return null;
  const versionTolerance = MODES[mode].rounds ? VERSION_TOLERANCE.rounds : VERSION_TOLERANCE.async;
  return new DirectionCheck({ ...rest, snapshots, threshold, versionTolerance });
}

interface WorkerRecord {
  cosines: number[];
  mean: number;
  refused: boolean;
}

/** What a DirectionCheck tells its listeners (tests wait on these instead of sleeping). */
export interface DirectionEvents {
  /** A witnessed push's cosine came back and its worker's verdict took it in. */
  judged: [judgement: { workerId: string; cosine: number; refused: boolean }];
}

export class DirectionCheck extends EventEmitter<DirectionEvents> {
  /** Pushes sent to be compared, and the cosines that came back. */
  witnessed = 0;
  judged = 0;
  private suspended = false;
  private readonly free: Float32Array[] = [];
  private readonly workers = new Map<string, WorkerRecord>();

  constructor(private readonly deps: DirectionCheckDeps) {
    super();
    for (let i = 0; i < BUFFERS; i++) this.free.push(new Float32Array(deps.store.parameterCount));
    deps.snapshots.on('off', () => this.turnOff());
    deps.snapshots.on('trusted', () => {
      if (this.suspended) log.info('direction check on again', { job: deps.rootKey });
      this.suspended = false;
    });
  }

  /**
   * The gate's call, after the norm bound, with the version the push was computed on,
   * its decoded gradient (one view per tensor) and its parts: witnesses it if it was computed near the snapshot, then
   * refuses it if a part's worker's recent gradients pointed away from the trusted ones
   * (a replica step's refusal names the stage: `stage`, its index).
   */
  check(baseVersion: number, gradient: readonly Float32Array[], parts: readonly JudgedPart[]): (Failure & { stage?: number }) | null {
    const snapshot = this.deps.snapshots.current;
    if (snapshot && Math.abs(baseVersion - snapshot.version) <= this.deps.versionTolerance && this.free.length > 0) this.witness(parts, snapshot.id, gradient);
    for (let i = 0; i < parts.length; i++) {
      const record = this.workers.get(parts[i]!.worker);
      if (!record?.refused) continue;
      const failure = fail(
        ErrorCode.DIRECTION_OUTLIER,
        `This worker's last ${record.cosines.length} checked gradients point away from the parameter server's own gradient at the same parameters (mean cosine ${record.mean.toFixed(3)}, below ${this.deps.threshold})`,
      );
      return parts.length > 1 ? { ...failure, stage: i } : failure;
    }
    return null;
  }

  /** The worker left: what was learned about it goes (a returning worker is judged afresh). */
  forget(workerId: string): void {
    this.workers.delete(workerId);
  }

  private witness(parts: readonly JudgedPart[], snapshot: number, gradient: readonly Float32Array[]): void {
    const buffer = this.free.pop()!;
    // Each tensor's first element in the flat buffer, for the parts' element ranges.
    const starts: number[] = [];
    let at = 0;
    for (const view of gradient) {
      starts.push(at);
      buffer.set(view, at);
      at += view.length;
    }
    starts.push(at);
    // A part without tensors (a stage of a Flatten) has nothing to compare; the rest are read now (the gate reuses its parts).
    const judged = parts.filter((p) => p.to > p.from);
    const workers = judged.map((p) => p.worker);
    const ranges = judged.map((p): [number, number] => [starts[p.from]!, starts[p.to]!]);
    this.witnessed += 1;
    this.deps.service.witness(this.deps.rootKey, snapshot, buffer, ranges).then(
      (j: Judgement) => {
        this.free.push(j.gradient);
        if (this.suspended) return;
        j.cosines.forEach((cosine, i) => cosine !== null && this.record(workers[i]!, cosine));
      },
      // The buffer went down with the thread; the snapshots report it 'off'.
      () => this.free.push(new Float32Array(this.deps.store.parameterCount)),
    );
  }

  private record(workerId: string, cosine: number): void {
    const record = this.workers.get(workerId) ?? { cosines: [], mean: 0, refused: false };
    this.workers.set(workerId, record);
    record.cosines.push(cosine);
    if (record.cosines.length > WINDOW) record.cosines.shift();
    record.mean = record.cosines.reduce((a, b) => a + b, 0) / record.cosines.length;
    const refused = record.mean < this.deps.threshold;
    if (refused !== record.refused) {
      log.info(refused ? 'worker refused: its gradients point away from the trusted direction' : 'worker readmitted', {
        job: this.deps.rootKey,
        worker: workerId,
        meanCosine: +record.mean.toFixed(3),
        checked: record.cosines.length,
      });
    }
    record.refused = refused;
    this.judged += 1;
    this.emit('judged', { workerId, cosine, refused });
  }

  /** The thread failed: nothing is refused until a trusted gradient arrives again. */
  private turnOff(): void {
    this.suspended = true;
    this.workers.clear();
  }
}

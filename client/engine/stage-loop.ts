/**
 * A tab's part of a model replica (docs/model-parallelism.md, "In the browser"): the
 * same StageRunner the Node stage worker runs (bench/stage-worker.ts), on the tab's
 * backend, its frames over a FrameTransport. Stage 0 leases and trains shards until the
 * tab's assignment changes; a later stage serves its neighbours' frames until then. A
 * stage that stops for its own reasons (a bad frame, a refusal it cannot go on from)
 * resolves with that reason: its replica's other stages would wait for it forever, so
 * the engine leaves the replica (worker-engine.ts). An aborted step (a bad frame) is not
 * such a reason: the coordinator dissolves the replica on the abort, and the stage waits
 * for that.
 */
import type { JobAssignment, PushAccepted } from '../../shared/protocol.js';
import type { ReplicaReport } from '../../shared/replica-protocol.js';
import type { Result } from '../../shared/result.js';
import type { FrameTransport } from './frame-transport.js';
import { StageRunner, StageStopped, StepAborted, type StageServer } from './stage-runner.js';
import { StageTrainer } from './stage-trainer.js';

/** How often a stage sends its replica:report (cumulative figures, so a lost one costs nothing). */
export const STAGE_REPORT_MS = 2000;

export interface StageLoopOptions {
  /** An assignment with its `replica`. */
  job: JobAssignment;
  transport: FrameTransport;
  server: StageServer;
  /** False once the tab's assignment changed (a new job:assign, its replica dissolved, the socket gone). */
  stillAssigned: () => boolean;
  /** Resolves when stillAssigned turns false. */
  unassigned: Promise<void>;
  /** Sends a replica:report. */
  report: (r: ReplicaReport) => void;
  pushed: (r: Result<PushAccepted>, examples: number, batches: number) => void;
  noShardRetryMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs the stage; resolves with null when its assignment ended it, else with why it stopped by itself. */
export async function runStage(o: StageLoopOptions): Promise<string | null> {
  const replica = o.job.replica;
  if (!replica) throw new Error('runStage needs a replica assignment');
  const trainer = await StageTrainer.create(o.job.topology, o.job.tensors, { from: replica.from, to: replica.to, inputShape: replica.inputShape }, o.job.dataset.numClasses);
  let stopped: (reason: Error) => void = () => {};
  const stoppedItself = new Promise<Error>((r) => (stopped = r));
  const runner = new StageRunner(o.job, trainer, o.server, (to, frame) => o.transport.send(to, frame), {
    pushed: o.pushed,
    stopped: (reason) => stopped(reason),
    sendAbort: (to, frame) => (o.transport.sendAbort ? o.transport.sendAbort(to, frame) : o.transport.send(to, frame)),
  });
  o.transport.onFailure?.((reason) => stopped(new StageStopped(reason)));
  const reporter = setInterval(() => o.report(runner.report(o.transport.path())), STAGE_REPORT_MS);
  try {
    await runner.pull();
    o.transport.receive((from, frame) => runner.receive(from, frame));
    const work =
      replica.stage === 0
        ? runner.run(o.stillAssigned, o.noShardRetryMs, sleep).then(
            () => null,
            (err: unknown) => (err instanceof StageStopped ? err : Promise.reject(err)),
          )
        : stoppedItself;
    let ended = await Promise.race([work, stoppedItself, o.unassigned.then(() => null)]);
    if (ended instanceof StepAborted) ended = await o.unassigned.then(() => null);
    // Its last figures, while its replica may still be live.
    o.report(runner.report(o.transport.path()));
    return ended && o.stillAssigned() ? ended.message : null;
  } finally {
    clearInterval(reporter);
    runner.stop(new StageStopped('its stage ended'));
    trainer.dispose();
  }
}

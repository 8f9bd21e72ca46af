/**
 * Stage workers of a split job on ps tasks, as raw sockets with the engine's
 * StagePsTransport: a test drives one replica of two stages step by step (holds on the
 * tasks, notices to the chief) and reads what goes to the chief. Shared by the tests
 * of replica steps on ps tasks (pipeline-ps-steps, ps-step-rollback).
 */
import { StagePsTransport } from '../client/engine/stage-ps-transport.js';
import { encodeTensors } from '../shared/codec.js';
import { checkPsRoute } from '../shared/ps-route.js';
import type { GradientPush, JobAssignment } from '../shared/protocol.js';
import { sizeOf } from '../shared/tensors.js';
import { connectTestWorker, type TestWorker } from './workers.js';

export interface Stage {
  w: TestWorker;
  workerId: string;
  job: JobAssignment;
  tasks: StagePsTransport;
  /** Resolves with the stage's next notice as it goes to the chief (its parts are held on the tasks by then). */
  noticed: () => Promise<GradientPush>;
  /** Runs synchronously just before each notice is sent to the chief (null: nothing). */
  beforeNotice: ((p: GradientPush) => void) | null;
}

export interface StageReplica {
  a: Stage;
  b: Stage;
  /** Stage `s`'s push for `replicaStep`: `value` in every entry of its tensors; `loss` from the last stage. */
  push: (s: Stage, replicaStep: number, value: number, loss?: number | null) => GradientPush;
}

export class StageReplicas {
  private readonly sockets: TestWorker[] = [];
  private readonly transports: StagePsTransport[] = [];

  constructor(private readonly url: string) {}

  /** A worker that says hello and becomes a stage once the coordinator assigns it one. */
  async stage(): Promise<{ staged: Promise<Stage> }> {
    const w = await connectTestWorker(this.url);
    this.sockets.push(w);
    const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
    const hello = await w.emitWithAck('worker:hello', { userAgent: 'stage' });
    if (!hello.ok) throw new Error(hello.message);
    const ready = staged.then((job) => {
      const route = checkPsRoute(job.ps, job.tensors);
      if ('error' in route) throw new Error(route.error);
      let notice = (_p: GradientPush) => {};
      const stage: Stage = {
        w,
        workerId: hello.workerId,
        job,
        tasks: new StagePsTransport({
          job,
          route,
          tensors: job.replica!.tensors,
          chief: (p) => {
            notice(p);
            stage.beforeNotice?.(p);
            return w.emitWithAck('grads:push', p);
          },
        }),
        noticed: () => new Promise<GradientPush>((resolve) => (notice = resolve)),
        beforeNotice: null,
      };
      this.transports.push(stage.tasks);
      return stage;
    });
    return { staged: ready };
  }

  /** Two stages of one replica, stage 0 holding a lease, both having pulled their slices. */
  async replica(): Promise<StageReplica> {
    const first = await this.stage();
    const second = await this.stage();
    const [a, b] = await Promise.all([first.staged, second.staged]);
    const jobId = a.job.jobId;
    const lease = await a.w.emitWithAck('shard:lease', { jobId });
    if (!lease.ok || !lease.lease) throw new Error('no lease');
    const leaseId = lease.lease.leaseId;
    const pulled = await Promise.all([a.tasks.pull({ jobId }), b.tasks.pull({ jobId })]);
    if (!pulled[0].ok || !pulled[1].ok) throw new Error('pull refused');
    const push = (s: Stage, replicaStep: number, value: number, loss: number | null = null): GradientPush => ({
      jobId,
      leaseId: s.job.replica!.stage === 0 ? leaseId : s.job.replica!.replicaId,
      baseVersion: 1,
      batches: 1,
      loss,
      replicaStep,
      ...gradient(s, value),
    });
    return { a, b, push };
  }

  close(): void {
    this.transports.splice(0).forEach((t) => t.dispose());
    for (const s of this.sockets.splice(0)) s.disconnect();
  }
}

/** `value` in every entry of the stage's tensors, fp32, as a stage's runner hands its transport. */
function gradient(s: Stage, value: number) {
  const specs = s.job.tensors.filter((t) => s.job.replica!.tensors.includes(t.name));
  return encodeTensors(specs.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(value) })));
}

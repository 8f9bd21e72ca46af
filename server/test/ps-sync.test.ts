/**
 * A sync job in int8 (and a local-SGD job in fp16) on two real ps task processes, started as `npm start -- --ps 2`
 * does, with two workers on real sockets pushing through the PsTransport the browser
 * engine and the Node worker use: each worker's slices go to each task in int8 (error
 * feedback per slice), each answer waits for the round, which the chief closes on both
 * tasks when both workers have pushed; the tasks are then one version on, and the chief
 * counts one round and one step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PsTransport } from '../../client/engine/ps-transport.js';
import { encodeTensors } from '../../shared/codec.js';
import { checkPsRoute } from '../../shared/ps-route.js';
import type { JobAssignment, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { seededValues } from '../../test-support/ps-fixture.js';
import { joinAssigned, leaseShard, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';
import { sizeOf } from '../../shared/tensors.js';

/** Local SGD pushes parameter deltas through the same rounds: the same path, another codec. */
const CASES = [
  { mode: 'sync', codec: 'int8' },
  { mode: 'local', codec: 'fp16' },
] as const;

for (const { mode, codec } of CASES) {
  describe(`a ${mode} job in ${codec} on 2 ps tasks`, () => {
    let run: Running;
    const sockets: TestWorker[] = [];
    const transports: PsTransport[] = [];

    beforeAll(async () => {
      run = await startCoordinator({ model: 'mlp', mode, codec, shardSize: 2000, normBound: 0, directionThreshold: null, evalIntervalSeconds: 3600 }, {}, { ps: 2 });
    }, 120_000);
    afterAll(async () => {
      transports.forEach((t) => t.dispose());
      sockets.forEach((s) => s.disconnect());
      await run?.close();
    });

    function transportOf(w: TestWorker, job: JobAssignment): PsTransport {
      const route = checkPsRoute(job.ps, job.tensors);
      if ('error' in route) throw new Error(route.error);
      const t = new PsTransport({ job, route, chief: (p) => w.emitWithAck('grads:push', p) });
      transports.push(t);
      return t;
    }

    it('answers each push when the round closes on both tasks, round after round', async () => {
      const workers = await Promise.all(['sync-a', 'sync-b'].map((ua) => joinAssigned(run.url, sockets, ua)));
      expect(workers[0]!.job.mode.name).toBe(mode);
      expect(workers[0]!.job.codec).toBe(codec);
      const leased = await Promise.all(workers.map(async ({ w, job }) => ({ lease: await leaseShard(w, job.jobId), transport: transportOf(w, job), job })));
      for (let round = 0; round < 2; round++) {
        // Each worker pulls (both tasks at the round's version), then pushes its slices in the job's codec; each answer waits for the round.
        const answers: Result<PushAccepted>[] = await Promise.all(
          leased.map(async ({ lease, transport, job }, k) => {
            const pulled = await transport.pull({ jobId: job.jobId });
            if (!pulled.ok) throw new Error(pulled.message);
            const grads = encodeTensors(job.tensors.map((t, i) => ({ ...t, values: seededValues(100 * round + 10 * k + i, sizeOf(t.shape), 0.01) })));
            const perPush = mode === 'local' ? run.job.spec.localSteps : run.job.spec.nPush;
            const batches = Math.min(perPush, Math.floor((lease.batches.to - lease.batches.from) / 2));
            return transport.push({ jobId: job.jobId, leaseId: lease.leaseId, baseVersion: pulled.version, batches, loss: 1, ...grads });
          }),
        );
        expect(answers).toEqual([0, 1].map(() => ({ ok: true, version: round + 1, staleness: 0 })));
        expect(run.job.version).toBe(round + 1);
        expect(run.job.parameters.counters()).toEqual({ rounds: round + 1, timedOut: 0 });
      }
      expect(run.job.stats.pushesAccepted).toBe(4);
    });
  });
}

/**
 * The norm bound's reference on ps tasks is the chief's: at job creation each task gets
 * its own slices' columns of the PS's gradient at the initial parameters, and at every
 * trusted refresh (the job's clock) the chief takes its gradient at the values gathered
 * from the tasks, per placed slice, and sends each task its columns (`job:reference`).
 * Read back with `task:status` on the tasks' control channel, as the chief would.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PsTaskStatus } from '../../shared/ps-protocol.js';
import { ManualClock, startCoordinator, waitForEvent, type Running } from '../../test-support/index.js';
import { connectChief, startPsTask, type PsControlClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { ReferenceNorms } from '../params/reference-norms.js';
import type { RemoteParameterService } from '../params/remote-parameter-service.js';
import type { TrustedSnapshotEvents } from '../params/trusted-snapshots.js';

const TOKEN = 'ps-norm-reference-test-cluster-token-0123456789';
const keys = deriveClusterKeys(TOKEN);
const EPOCH = 7;
/** The thread starts tfjs and builds the model first: generous on a loaded machine. */
const THREAD_MS = 120_000;

let tasks: RunningPsTask[] = [];
let controls: PsControlClient[] = [];
let run: Running;
const clock = new ManualClock();

beforeAll(async () => {
  tasks = [await startPsTask({ token: TOKEN }), await startPsTask({ token: TOKEN })];
  controls = await Promise.all(tasks.map((t) => connectChief(t.url)));
  // A root set of 256 in batches of 32: eight mini-batches, quick on a loaded machine.
  run = await startCoordinator(
    { model: 'mlp', normBound: 10, trustedRefreshSeconds: 1, rootSetSize: 256, batchSize: 32 },
    { clock, cluster: { endpoints: tasks.map((t) => t.url), token: TOKEN, epoch: EPOCH } },
  );
}, 120_000);
afterAll(async () => {
  controls.forEach((c) => c.disconnect());
  await run?.close();
  await Promise.all(tasks.map((t) => t.close()));
});

/** Each task's reference for the job now, as its task:status says (this chief's epoch: asking deposes no one). */
async function taskReferences(): Promise<(number | undefined)[]> {
  return Promise.all(
    controls.map(async (c) => {
      const s = await c.emitWithAck('task:status', { chief: chiefCredential(keys, EPOCH, 'task:status') });
      if (!s.ok) throw new Error(s.message);
      return (s as { ok: true } & PsTaskStatus).jobs.find((j) => j.jobId === run.job.id)?.normReference;
    }),
  );
}

it('each task gets its slices\' reference at creation, and the PS\'s gradient at the gathered values at each trusted refresh', { timeout: 300_000 }, async () => {
  const first = await taskReferences();
  expect(first.every((r) => r !== undefined && r > 0)).toBe(true);
  const service = run.job.parameters as RemoteParameterService;
  const slices = service.psPlacement.placement.slices;
  const taken = waitForEvent<TrustedSnapshotEvents['trusted'][0]>(service.trusted!, 'trusted', THREAD_MS);
  clock.advance(1000);
  const { norms } = await taken;
  // Per placed slice, not per tensor: each task's columns are its own slices'.
  const expected = [0, 1].map((t) => {
    const columns = slices.flatMap((s, i) => (s.task === t ? [i] : []));
    return new ReferenceNorms(norms.columns(columns)).normOf(0, columns.length);
  });
  await expect.poll(taskReferences, { timeout: 10_000 }).toEqual(expected.map((n) => expect.closeTo(n, 9)));
  // A root set's median over 8 batches, not the first batch's alone: the reference moved.
  expect(expected).not.toEqual(first);
});

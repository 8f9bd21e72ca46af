/**
 * Where a worker pushes and pulls a job whose parameters live on ps tasks: the tasks'
 * endpoints, the chief's ticket for each, and the placement (which slices each task
 * holds). It rides in the job's assignment (`JobAssignment.ps`) and tickets are renewed
 * by `ps:tickets`. A worker checks both like every other message: the schema, and the
 * placement recomputed from the job's tensors must be the one it was sent.
 */
import { z } from 'zod';
import { MAX_PS_TASKS } from './cluster-spec.js';
import { formatIssues } from './job-spec.js';
import { Placement, type PlacementJson } from './placement.js';
import type { TensorSpec } from './tensors.js';

export interface PsTaskRoute {
  task: number;
  /** The task's origin, e.g. `http://10.0.0.7:2222`: the worker connects to `<url>/ps-worker`. */
  url: string;
  /** The chief's ticket for this worker, this job and this task (server/cluster/tickets.ts). */
  ticket: string;
}

export interface PsRoute {
  /** Task i at index i. */
  tasks: PsTaskRoute[];
  placement: PlacementJson;
}

/** `ps:tickets`: fresh tickets for the job the worker is on, before the old ones expire. */
export interface PsTickets {
  jobId: string;
  tickets: { task: number; ticket: string }[];
}

const ticket = z.string().min(1).max(1024);
const taskIndex = z.number().int().min(0).max(MAX_PS_TASKS - 1);
const origin = z
  .string()
  .max(300)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v.replace(/\/$/, '');
    } catch {
      return false;
    }
  }, 'an http(s) origin');

const routeSchema = z.object({
  tasks: z.array(z.object({ task: taskIndex, url: origin, ticket })).min(1).max(MAX_PS_TASKS),
  placement: z.object({ tasks: z.number().int().min(1).max(MAX_PS_TASKS), partitionBytes: z.number().positive() }).passthrough(),
});

export const psTicketsSchema = z.object({ jobId: z.string().min(1).max(128), tickets: z.array(z.object({ task: taskIndex, ticket })).min(1).max(MAX_PS_TASKS) });

/** A checked route: its tasks in order, and the placement as this worker computes it. */
export interface CheckedRoute {
  tasks: PsTaskRoute[];
  placement: Placement;
}

/** The route for `tensors`, or why it cannot be used (a message for the worker's status). */
export function checkPsRoute(route: unknown, tensors: readonly TensorSpec[]): CheckedRoute | { error: string } {
  const parsed = routeSchema.safeParse(route);
  if (!parsed.success) return { error: `ps route: ${formatIssues(parsed.error.issues)}` };
  const { tasks, placement: sent } = parsed.data;
  if (tasks.some((t, i) => t.task !== i) || tasks.length !== sent.tasks) return { error: `ps route: ${tasks.length} tasks listed for a placement over ${sent.tasks}, or out of order` };
  const placement = Placement.of(tensors, { tasks: sent.tasks, partitionBytes: sent.partitionBytes });
  // The worker places the tensors itself: a route whose slices differ would scatter its gradients.
  if (JSON.stringify(placement.toJSON()) !== JSON.stringify(sent)) return { error: 'ps route: the placement does not match the job\'s tensors' };
  return { tasks, placement };
}

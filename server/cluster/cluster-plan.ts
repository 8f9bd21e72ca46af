/**
 * Where a coordinator's parameters live, from its command line: nothing given, in its
 * own process as today; `--ps N`, on N ps task processes it starts on this machine;
 * `--cluster FILE`, on the ps tasks a ClusterSpec file names (shared/cluster-spec.ts).
 * The flags arrive as commander gives them (strings); every mistake is a coded
 * refusal naming the flag or the file, never an exception.
 */
import { readFileSync, statSync } from 'node:fs';
import { clusterSpecSchema, type PsEndpoint } from '../../shared/cluster-spec.js';
import { formatIssues } from '../../shared/job-spec.js';

/** Most ps tasks `--ps` starts on one machine. */
export const MAX_LOCAL_PS_TASKS = 16;
/** A ClusterSpec of 64 long hostnames is under 20 KB. */
export const MAX_CLUSTER_FILE_BYTES = 64 * 1024;

export type ClusterPlan =
  /** The parameter server in the coordinator's process (the default). */
  | { kind: 'embedded' }
  /** `--ps N`: N task processes on this machine, started by the coordinator. */
  | { kind: 'local'; tasks: number }
  /** `--cluster FILE`: running tasks elsewhere, task i at endpoints[i]. */
  | { kind: 'remote'; endpoints: PsEndpoint[]; file: string };

export const ClusterPlanError = {
  /** `--ps` is not an integer 1..MAX_LOCAL_PS_TASKS. */
  BAD_PS_COUNT: 'BAD_PS_COUNT',
  /** Both `--ps` and `--cluster`. */
  CONFLICTING_FLAGS: 'CONFLICTING_FLAGS',
  CLUSTER_FILE_MISSING: 'CLUSTER_FILE_MISSING',
  /** Not a regular file, too large, or not readable. */
  CLUSTER_FILE_UNREADABLE: 'CLUSTER_FILE_UNREADABLE',
  CLUSTER_FILE_NOT_JSON: 'CLUSTER_FILE_NOT_JSON',
  /** JSON, but not a valid ClusterSpec. */
  CLUSTER_SPEC_INVALID: 'CLUSTER_SPEC_INVALID',
} as const;
export type ClusterPlanError = (typeof ClusterPlanError)[keyof typeof ClusterPlanError];

export type ClusterPlanResult = { ok: true; plan: ClusterPlan } | { ok: false; code: ClusterPlanError; message: string };

export interface ClusterFlags {
  /** `--ps N` as typed. */
  ps?: string;
  /** `--cluster FILE`. */
  cluster?: string;
}

export function planCluster(flags: ClusterFlags): ClusterPlanResult {
  const refuse = (code: ClusterPlanError, message: string): ClusterPlanResult => ({ ok: false, code, message });
  if (flags.ps !== undefined && flags.cluster !== undefined) {
    return refuse(ClusterPlanError.CONFLICTING_FLAGS, '--ps starts ps tasks here and --cluster names running ones: give one of them');
  }
  if (flags.ps !== undefined) {
    const n = Number(flags.ps);
    if (!/^\d+$/.test(flags.ps.trim()) || n < 1 || n > MAX_LOCAL_PS_TASKS) {
      return refuse(ClusterPlanError.BAD_PS_COUNT, `--ps: expected an integer from 1 to ${MAX_LOCAL_PS_TASKS}, got "${flags.ps.slice(0, 40)}"`);
    }
    return { ok: true, plan: { kind: 'local', tasks: n } };
  }
  if (flags.cluster === undefined) return { ok: true, plan: { kind: 'embedded' } };

  const file = flags.cluster;
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return refuse(ClusterPlanError.CLUSTER_FILE_UNREADABLE, `--cluster ${file}: not a regular file`);
    if (stat.size > MAX_CLUSTER_FILE_BYTES) return refuse(ClusterPlanError.CLUSTER_FILE_UNREADABLE, `--cluster ${file}: ${stat.size} bytes; a ClusterSpec is at most ${MAX_CLUSTER_FILE_BYTES}`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return refuse(ClusterPlanError.CLUSTER_FILE_MISSING, `--cluster ${file}: no such file`);
    return refuse(ClusterPlanError.CLUSTER_FILE_UNREADABLE, `--cluster ${file}: cannot read it (${code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return refuse(ClusterPlanError.CLUSTER_FILE_NOT_JSON, `--cluster ${file}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const spec = clusterSpecSchema.safeParse(json);
  if (!spec.success) {
    return refuse(ClusterPlanError.CLUSTER_SPEC_INVALID, `--cluster ${file}: not a ClusterSpec {"ps": ["host:port", …]}: ${formatIssues(spec.error.issues)}`);
  }
  return { ok: true, plan: { kind: 'remote', endpoints: spec.data.ps, file } };
}

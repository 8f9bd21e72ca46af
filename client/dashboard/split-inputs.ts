/**
 * The create form's model-parallelism inputs (docs/model-parallelism.md): which of a
 * split job's fields the job being filled in would read, and the worker parameter
 * budget, typed in MB, as the spec's bytes.
 */
import { jobSpecSchema } from '../../shared/job-spec.js';
import type { ConsistencyModeName } from '../../shared/modes.js';
import { unusedBecause, type SplitField } from './spec-fields.js';

const DEFAULTS = jobSpecSchema.parse({});

/**
 * Whether a job with `stages` in `mode` reads `field`, by the rule the job's full
 * configuration marks fields unused with. A stages input that is empty or below 2
 * (read as a number: '' is 0) is one stage: the server refuses what is not a count.
 */
export function splitFieldRead(field: SplitField, stages: number, mode: ConsistencyModeName): boolean {
  return unusedBecause({ ...DEFAULTS, stages: stages > 1 ? stages : 1, mode }, field) === null;
}

/** 1 MB in the budget field: decimal, as the docs write model sizes (mlp-large: 23.3 MB). */
export const BUDGET_UNIT_BYTES = 1_000_000;

/** The field's MB as the spec's whole bytes; empty is no bound (null). Non-finite text reads as NaN, for the form to refuse. */
export function budgetBytes(mb: string): number | null {
  if (mb.trim() === '') return null;
  const bytes = Math.round(Number(mb) * BUDGET_UNIT_BYTES);
  return Number.isFinite(bytes) ? bytes : NaN;
}

/** A spec's budget as the field shows it: '' for no bound. */
export function budgetMb(bytes: number | null): string {
  return bytes === null ? '' : String(bytes / BUDGET_UNIT_BYTES);
}

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssues } from './issue-text.js';

const issues = (schema: z.ZodType, value: unknown) => {
  const r = schema.safeParse(value);
  if (r.success) throw new Error('expected a refusal');
  return formatIssues(r.error.issues);
};

describe('formatIssues', () => {
  it("rewrites zod's own wording for people, path first", () => {
    expect(issues(z.object({ lr: z.number().max(10) }).strict(), { lr: 11 })).toBe('lr: must be at most 10');
    expect(issues(z.object({ n: z.number().int() }).strict(), { n: 1.5 })).toBe('n: must be a whole number');
    expect(issues(z.object({ ps: z.array(z.string()).min(1) }).strict(), { ps: [] })).toBe('ps: must have at least 1 entries');
    expect(issues(z.object({ a: z.string() }).strict(), { a: 'x', modle: 1 })).toBe('modle: is not a known field');
  });

  it('keeps a message the schema wrote itself', () => {
    expect(issues(z.object({ ps: z.array(z.string()).min(1, 'names no ps task') }).strict(), { ps: [] })).toBe('ps: names no ps task');
    expect(issues(z.object({ n: z.number().max(3, 'holds at most 3 workers') }).strict(), { n: 4 })).toBe('n: holds at most 3 workers');
  });
});

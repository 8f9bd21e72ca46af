/**
 * Schema issues in words a person reads: "must be at most 10", not zod's "Too big:
 * expected number to be <=10". The field's path stays in front of each message
 * (`optimizer.learningRate: must be at most 10`) because API clients need it; the
 * dashboard swaps it for the field's label.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

export function issueText(issue: Issue): string {
  switch (issue.code) {
    case 'too_big':
      return bound(issue.origin, issue.maximum, issue.inclusive ?? true, 'most', 'below');
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      return bound(issue.origin, issue.minimum, issue.inclusive ?? true, 'least', 'above');
    case 'invalid_type':
      if (issue.expected === 'int') return 'must be a whole number';
      return `must be ${article(issue.expected)} ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'invalid_format':
      // A message the schema wrote itself is already for people; zod's own start "Invalid".
      if (!issue.message.startsWith('Invalid')) return issue.message;
      return 'pattern' in issue && issue.pattern ? `must match ${issue.pattern}` : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'unrecognized_keys':
      return `${issue.keys.length === 1 ? 'is not a known field' : 'are not known fields'}`;
    default:
      // custom refinements (and anything rarer) already speak for themselves.
      return issue.message;
  }
}

function bound(origin: string, limit: number | bigint, inclusive: boolean, most: 'most' | 'least', strict: 'below' | 'above'): string {
  const n = String(limit);
  if (origin === 'string') return `must be at ${most} ${n} characters`;
  if (origin === 'array' || origin === 'set') return `must have at ${most} ${n} entries`;
  return inclusive ? `must be at ${most} ${n}` : `must be ${strict} ${n}`;
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/**
 * "path: text" per issue, joined with "; ". An unknown key is reported under its own
 * name (`modle: is not a known field`), so the message names what to fix.
 */
export function formatIssues(issues: readonly Issue[]): string {
  return issues
    .flatMap((i) => {
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${[...i.path, k].join('.')}: is not a known field`);
      return [`${i.path.length ? i.path.join('.') : '(root)'}: ${issueText(i)}`];
    })
    .join('; ');
}

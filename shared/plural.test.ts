import { expect, it } from 'vitest';
import { countOf } from './plural.js';

it('uses the singular for exactly one', () => {
  expect([0, 1, 2].map((n) => countOf(n, 'worker'))).toEqual(['0 workers', '1 worker', '2 workers']);
  expect(countOf(1, 'browser(s)', 'browsers')).toBe('1 browser(s)');
  expect(countOf(1234, 'example', undefined, (n) => n.toLocaleString('en'))).toBe('1,234 examples');
});

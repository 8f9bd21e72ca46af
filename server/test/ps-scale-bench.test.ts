/**
 * `npm run bench -- ps-scale` as a user runs it, briefly (the --seconds 5 smoke run):
 * real task processes, a real chief, forked load clients. Its last line is the JSON
 * the issue fixes, and pushes happened. One row, through 2 tasks: a second row would
 * double the test's time and exercise nothing new (each row is the same code over a
 * fresh cluster).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);

test('ps-scale --seconds 5 prints the issue\'s JSON last, with pushes accepted through 2 tasks', async () => {
  const { stdout } = await run('npx', ['tsx', 'bench/main.ts', 'ps-scale', '--tasks', '2', '--seconds', '5', '--workers', '2', '--procs', '1'], { maxBuffer: 1 << 20 });
  const last = stdout.trim().split('\n').at(-1)!;
  const out = JSON.parse(last) as Record<string, unknown>;
  expect(Object.keys(out)).toEqual(['bench', 'model', 'params', 'results', 'loadavg']);
  expect(out).toMatchObject({ bench: 'ps-scale', model: 'dense-1024x2', params: 1_863_690 });
  expect(out.loadavg).toHaveLength(3);
  const rows = out.results as Record<string, number>[];
  expect(rows.map((r) => r.tasks)).toEqual([2]);
  for (const row of rows) {
    expect(Object.keys(row)).toEqual(['tasks', 'pushes_per_s', 'p50_ms', 'p99_ms', 'bytes_in_per_s', 'cpu_s_tasks', 'cpu_s_load', 'cpu_ms_per_push_tasks', 'cpu_ms_per_push_load']);
    expect(row.pushes_per_s).toBeGreaterThan(0);
    // Every accepted push carried the whole model's fp32 gradient, split over the tasks.
    expect(row.bytes_in_per_s).toBeGreaterThanOrEqual(row.pushes_per_s * 1_863_690 * 4 * 0.9);
    expect(row.p99_ms).toBeGreaterThanOrEqual(row.p50_ms);
    expect(row.cpu_s_tasks).toBeGreaterThan(0);
    expect(row.cpu_s_load).toBeGreaterThan(0);
    expect(row.cpu_ms_per_push_tasks).toBeGreaterThan(0);
    expect(row.cpu_ms_per_push_load).toBeGreaterThan(0);
  }
}, 90_000);

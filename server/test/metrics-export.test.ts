/**
 * Metrics export: a real coordinator (its clock stepped, so the history has exactly
 * the seconds the test made) serves each job's evaluations and metric history as JSON
 * and CSV, from the job store, to the operator only.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { sizeOf } from '../../shared/tensors.js';
import { evalsCsv, type MetricsExport } from '../http/metrics-export.js';
import { LeasedPusher, joinAssigned, ManualClock, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const TOKEN = 'export-metrics-token';
let run: Running | null = null;
const sockets: TestWorker[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  run = null;
});

const get = (path: string, token: string | null = TOKEN) => fetch(run!.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

it('exports evaluations (with confusion matrices) and the metric history as JSON and CSV', { timeout: 120_000 }, async () => {
  const clock = new ManualClock();
  run = await startCoordinator({ model: 'mlp', name: 'Export me' }, { clock, operatorToken: TOKEN, dataDir: mkdtempSync(join(tmpdir(), 'downpour-metrics-')) });
  const { w, job } = await joinAssigned(run.url, sockets, 'vitest-metrics');
  const pusher = new LeasedPusher(w, job.jobId);
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
  for (let v = 0; v < 2; v++) {
    expect(await pusher.push({ baseVersion: v, loss: 2 - v / 2, ...payload })).toMatchObject({ ok: true });
    clock.advance(1000); // one dashboard tick: one history point
  }
  clock.advance(1000);
  const rec = (await run.job.evaluateIfChanged())!;
  const id = run.job.id;

  for (const file of ['metrics.json', 'evals.csv', 'history.csv']) {
    expect((await get(`/api/jobs/${id}/${file}`, null)).status, file).toBe(401);
    expect((await get(`/api/jobs/nope/${file}`)).status, file).toBe(404);
  }

  const json = await get(`/api/jobs/${id}/metrics.json`);
  expect(json.headers.get('content-disposition')).toBe(`attachment; filename=export-me-${id}-metrics.json`);
  const m = (await json.json()) as MetricsExport;
  expect(m.job).toMatchObject({ id, name: 'Export me', state: 'running', spec: { model: 'mlp' }, classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] });
  expect(m.evals).toEqual([{ ...rec, confusion: run.job.confusion!.matrix }]);
  expect(m.history.map((p) => [p.version, p.examplesSeen])).toEqual([
    [1, 64],
    [2, 128],
    [2, 128],
  ]);

  const evals = await get(`/api/jobs/${id}/evals.csv`);
  expect(evals.headers.get('content-type')).toBe('text/csv; charset=utf-8');
  const [header, row, end] = (await evals.text()).split('\r\n');
  expect(header).toBe('time,at_ms,version,examples_seen,accuracy,loss,' + Array.from({ length: 10 }, (_, c) => `accuracy_${c}`).join(','));
  const cells = row!.split(',');
  expect(cells.slice(0, 6)).toEqual([new Date(rec.at).toISOString(), String(rec.at), '2', '128', String(rec.accuracy), String(rec.loss)]);
  const matrix = run.job.confusion!.matrix;
  expect(cells.slice(6).map(Number)).toEqual(matrix.map((r, c) => r[c]! / r.reduce((a, b) => a + b, 0)));
  expect(end).toBe('');

  const history = (await (await get(`/api/jobs/${id}/history.csv`)).text()).trim().split('\r\n');
  expect(history[0]).toBe('time,at_ms,version,examples_seen,examples_per_second,pushes_per_second,train_loss,bytes_in,bytes_out');
  expect(history).toHaveLength(4);
});

it('quotes CSV fields that hold commas, quotes or line breaks', () => {
  const m: MetricsExport = {
    job: { id: 'job-1', name: 'x', state: 'done', spec: {} as MetricsExport['job']['spec'], classNames: ['T-shirt, "top"', 'Bag'], exportedAt: 0 },
    evals: [{ version: 1, examplesSeen: 2, accuracy: 0.5, loss: 1, at: 0, confusion: [[1, 1], [0, 2]] }],
    history: [],
  };
  expect(evalsCsv(m).split('\r\n')).toEqual([
    'time,at_ms,version,examples_seen,accuracy,loss,"accuracy_T-shirt, ""top""",accuracy_Bag',
    '1970-01-01T00:00:00.000Z,0,1,2,0.5,1,0.5,1',
    '',
  ]);
});

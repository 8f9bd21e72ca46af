/**
 * The upload format for operator datasets (docs/operator-api.md): CSV read by
 * csv-reader.ts, a header row of unique column names, one example per row. A `label`
 * column holds the class (integers 0…254, or names, mapped in sorted order); an
 * optional `split` column holds `train` or `test`; every other column is a numeric
 * feature, stored as float32, so a value float32 cannot hold (1e39 would become
 * Infinity in every shard) is refused with its line and column. Validated whole
 * before anything is registered; rows go straight into typed arrays.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { FeatureEncoding } from '../../shared/shard-format.js';
import type { Dataset, Split } from './dataset.js';
import { DatasetFormatError } from './dataset-errors.js';
import { readCsv, readCsvSync, type ReadCsvOptions } from './csv-reader.js';
import { TEST_EVERY } from './tabular.js';

export const CSV_LIMITS = { maxBytes: 50 * 1024 * 1024, maxClasses: 255, maxFeatures: 4096, minRows: 10 };

/** Decimal numbers only: Number() would also take "0x1A", "Infinity" and "". */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPLIT_NONE = 0;
const SPLIT_TRAIN = 1;
const SPLIT_TEST = 2;

/** Rows per block: storage grows a block at a time, never by copying what it holds. */
const BLOCK_ROWS = 1 << 14;

/** Collects rows into blocks of typed arrays as csv-reader hands them over. */
class CsvColumns {
  private header: string[] | null = null;
  private labelAt = -1;
  private splitAt = -1;
  private featureCols: number[] = [];
  private readonly blocks: { features: Float32Array; labelIds: Uint8Array; splits: Uint8Array }[] = [];
  /** Distinct label cells, in order of first appearance (at most maxClasses). */
  private readonly labels = new Map<string, number>();
  rows = 0;

  add(fields: string[], line: number): void {
    if (!this.header) return this.readHeader(fields);
    const header = this.header;
    if (fields.length !== header.length) throw new DatasetFormatError(`Line ${line} has ${fields.length} cells, the header ${header.length}`);
    const at = this.rows % BLOCK_ROWS;
    if (at === 0) this.blocks.push({ features: new Float32Array(BLOCK_ROWS * this.featureCols.length), labelIds: new Uint8Array(BLOCK_ROWS), splits: new Uint8Array(BLOCK_ROWS) });
    const block = this.blocks.at(-1)!;
    const width = this.featureCols.length;
    const base = at * width;
    for (let k = 0; k < width; k++) {
      const c = this.featureCols[k]!;
      const cell = fields[c]!;
      const v = Number(cell);
      if (!NUMBER.test(cell)) throw new DatasetFormatError(`Line ${line}, column "${header[c]}": "${cell.slice(0, 40)}" is not a finite number`);
      if (!Number.isFinite(Math.fround(v))) throw new DatasetFormatError(`Line ${line}, column "${header[c]}": ${cell.slice(0, 40)} is beyond float32's range (±3.4e38)`);
      block.features[base + k] = v;
    }
    const label = fields[this.labelAt]!;
    if (label === '') throw new DatasetFormatError(`Line ${line}: the label is empty`);
    let id = this.labels.get(label);
    if (id === undefined) {
      if (this.labels.size >= CSV_LIMITS.maxClasses) throw new DatasetFormatError(`Line ${line}: more than ${CSV_LIMITS.maxClasses} distinct labels`);
      id = this.labels.size;
      this.labels.set(label, id);
    }
    block.labelIds[at] = id;
    if (this.splitAt >= 0) {
      const s = fields[this.splitAt];
      if (s !== 'train' && s !== 'test') throw new DatasetFormatError(`Line ${line}: split "${s?.slice(0, 20)}" is neither train nor test`);
      block.splits[at] = s === 'test' ? SPLIT_TEST : SPLIT_TRAIN;
    }
    this.rows += 1;
  }

  private readHeader(fields: string[]): void {
    const seen = new Map<string, number>();
    fields.forEach((h, i) => {
      if (h === '') throw new DatasetFormatError(`CSV header: column ${i + 1} has no name`);
      if (seen.has(h)) throw new DatasetFormatError(`CSV header: column "${h.slice(0, 40)}" appears twice (columns ${seen.get(h)! + 1} and ${i + 1})`);
      seen.set(h, i);
    });
    this.labelAt = seen.get('label') ?? -1;
    if (this.labelAt < 0) throw new DatasetFormatError(`CSV header has no "label" column (columns: ${fields.join(', ').slice(0, 200)})`);
    this.splitAt = seen.get('split') ?? -1;
    this.featureCols = fields.map((_, i) => i).filter((i) => i !== this.labelAt && i !== this.splitAt);
    if (this.featureCols.length === 0) throw new DatasetFormatError('CSV has no feature columns');
    if (this.featureCols.length > CSV_LIMITS.maxFeatures) throw new DatasetFormatError(`CSV has more than ${CSV_LIMITS.maxFeatures} features`);
    this.header = fields;
  }

  /**
   * Builds the dataset a block at a time, pausing (`yield`) after each so an upload's
   * last step does not hold the event loop either; the rows go straight to their split.
   */
  *assemble(name: string): Generator<void, Dataset> {
    if (!this.header) throw new DatasetFormatError('CSV needs a header row and at least one example');
    if (this.rows < CSV_LIMITS.minRows) throw new DatasetFormatError(`CSV has ${this.rows} examples; at least ${CSV_LIMITS.minRows} are needed`);
    const cells = [...this.labels.keys()];
    // All integers: the integer is the class. Otherwise names, numbered in sorted order.
    const numeric = cells.every((l) => /^\d+$/.test(l));
    const sorted = numeric ? null : [...cells].sort();
    const classOf = cells.map((l) => (sorted ? sorted.indexOf(l) : Number(l)));
    const numClasses = classOf.reduce((n, c) => Math.max(n, c + 1), 0);
    if (this.labels.size < 2) throw new DatasetFormatError('CSV needs at least two classes');
    if (numClasses > CSV_LIMITS.maxClasses) throw new DatasetFormatError(`CSV has ${numClasses} classes (labels 0…${numClasses - 1}); at most ${CSV_LIMITS.maxClasses}`);

    const rowsIn = (b: number) => Math.min(BLOCK_ROWS, this.rows - b * BLOCK_ROWS);
    const isTest = (split: number, row: number) => (split === SPLIT_NONE ? row % TEST_EVERY === 0 : split === SPLIT_TEST);
    let testCount = 0;
    this.blocks.forEach((block, b) => {
      for (let i = 0; i < rowsIn(b); i++) if (isTest(block.splits[i]!, b * BLOCK_ROWS + i)) testCount++;
    });
    if (testCount === 0 || testCount === this.rows) throw new DatasetFormatError('Both the train and the test split need examples');
    const width = this.featureCols.length;
    const split = (count: number): Split => ({ count, features: new Float32Array(count * width), labels: new Uint8Array(count) });
    const train = split(this.rows - testCount);
    const test = split(testCount);
    const next = { train: 0, test: 0 };
    for (let b = 0; b < this.blocks.length; b++) {
      const block = this.blocks[b]!;
      for (let i = 0; i < rowsIn(b); i++) {
        const toTest = isTest(block.splits[i]!, b * BLOCK_ROWS + i);
        const to = toTest ? test : train;
        const j = toTest ? next.test++ : next.train++;
        for (let k = 0; k < width; k++) to.features[j * width + k] = block.features[i * width + k]!;
        to.labels[j] = classOf[block.labelIds[i]!]!;
      }
      yield;
    }
    this.blocks.length = 0;
    return { name, featureShape: [width], numClasses, ...(sorted ? { classNames: sorted } : {}), encoding: FeatureEncoding.FLOAT32, train, test };
  }
}

/** Parses an upload as its chunks arrive, without holding the event loop for long (see csv-reader.ts). */
export async function parseCsvDataset(name: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: ReadCsvOptions = {}): Promise<Dataset> {
  const columns = new CsvColumns();
  let bytes = 0;
  async function* counted() {
    for await (const chunk of chunks) {
      bytes += chunk.length;
      if (bytes > CSV_LIMITS.maxBytes) throw new DatasetFormatError(`File is larger than ${CSV_LIMITS.maxBytes} bytes`);
      yield chunk;
    }
  }
  await readCsv(counted(), (fields, line) => columns.add(fields, line), opts);
  const steps = columns.assemble(name);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    await yieldToEventLoop();
  }
}

/** The same, in one go: for files already accepted once, read at start-up. */
export function parseCsvDatasetSync(name: string, bytes: Uint8Array): Dataset {
  if (bytes.length > CSV_LIMITS.maxBytes) throw new DatasetFormatError(`File is larger than ${CSV_LIMITS.maxBytes} bytes`);
  const columns = new CsvColumns();
  readCsvSync(bytes, (fields, line) => columns.add(fields, line));
  const steps = columns.assemble(name);
  for (let step = steps.next(); ; step = steps.next()) if (step.done) return step.value;
}

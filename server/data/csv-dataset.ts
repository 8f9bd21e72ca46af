/**
 * The upload format for operator datasets: CSV, UTF-8, a header row, one example per
 * row. A `label` column holds the class (integers 0…K−1, or names, mapped in sorted
 * order); an optional `split` column holds `train` or `test`; every other column is a
 * numeric feature. Validated whole before anything is registered.
 */
import type { Dataset } from './dataset.js';
import { datasetFromRows, type Row } from './tabular.js';

export const CSV_LIMITS = { maxBytes: 50 * 1024 * 1024, maxClasses: 255, maxFeatures: 4096, minRows: 10 };

export class DatasetFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetFormatError';
  }
}

export function parseCsvDataset(name: string, text: string): Dataset {
  if (text.length > CSV_LIMITS.maxBytes) throw new DatasetFormatError(`File is larger than ${CSV_LIMITS.maxBytes} bytes`);
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new DatasetFormatError('CSV needs a header row and at least one example');
  const header = lines[0]!.split(',').map((h) => h.trim());
  const labelAt = header.indexOf('label');
  if (labelAt < 0) throw new DatasetFormatError(`CSV header has no "label" column (columns: ${header.join(', ')})`);
  const splitAt = header.indexOf('split');
  const featureCols = header.map((_, i) => i).filter((i) => i !== labelAt && i !== splitAt);
  if (featureCols.length === 0) throw new DatasetFormatError('CSV has no feature columns');
  if (featureCols.length > CSV_LIMITS.maxFeatures) throw new DatasetFormatError(`CSV has more than ${CSV_LIMITS.maxFeatures} features`);

  const rawLabels: string[] = [];
  const rows: Row[] = [];
  for (let li = 1; li < lines.length; li++) {
    const cells = lines[li]!.split(',').map((c) => c.trim());
    if (cells.length !== header.length) throw new DatasetFormatError(`Line ${li + 1} has ${cells.length} cells, the header ${header.length}`);
    const features = featureCols.map((c) => {
      const v = Number(cells[c]);
      if (cells[c] === '' || !Number.isFinite(v)) throw new DatasetFormatError(`Line ${li + 1}, column "${header[c]}": "${cells[c]}" is not a finite number`);
      return v;
    });
    let split: Row['split'];
    if (splitAt >= 0) {
      const s = cells[splitAt];
      if (s !== 'train' && s !== 'test') throw new DatasetFormatError(`Line ${li + 1}: split "${s}" is neither train nor test`);
      split = s;
    }
    rawLabels.push(cells[labelAt]!);
    rows.push({ features, label: -1, split });
  }
  if (rows.length < CSV_LIMITS.minRows) throw new DatasetFormatError(`CSV has ${rows.length} examples; at least ${CSV_LIMITS.minRows} are needed`);

  const allIntegers = rawLabels.every((l) => /^\d+$/.test(l));
  const classes = allIntegers ? null : [...new Set(rawLabels)].sort();
  rawLabels.forEach((l, i) => (rows[i]!.label = classes ? classes.indexOf(l) : Number(l)));
  const numClasses = classes ? classes.length : Math.max(...rows.map((r) => r.label)) + 1;
  if (numClasses < 2) throw new DatasetFormatError('CSV needs at least two classes');
  if (numClasses > CSV_LIMITS.maxClasses) throw new DatasetFormatError(`CSV has ${numClasses} classes; at most ${CSV_LIMITS.maxClasses}`);

  const ds = datasetFromRows(name, rows, numClasses, classes ?? undefined);
  if (ds.train.count === 0 || ds.test.count === 0) throw new DatasetFormatError('Both the train and the test split need examples');
  return ds;
}

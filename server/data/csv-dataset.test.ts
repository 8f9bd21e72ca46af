/**
 * The CSV upload format: RFC 4180 quoting, the header's rules, values float32 can hold,
 * labels as integers or names, and the same answer from the chunked (upload) and the
 * whole-file (start-up) readers.
 */
import { describe, expect, it } from 'vitest';
import { parseCsvDataset, parseCsvDatasetSync } from './csv-dataset.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const rows = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
const refusal = async (csv: string | Uint8Array) => {
  try {
    await parseCsvDataset('t', [typeof csv === 'string' ? utf8(csv) : csv], { sliceBytes: 7 });
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return null;
};

describe('CSV uploads', () => {
  it('reads RFC 4180 quoting, CRLF line ends, a BOM, blank lines and spaces around fields', async () => {
    const label = (i: number) => (i % 2 ? '"iris, large"' : '"iris ""small"""');
    const csv =
      '\ufeff"petal, length" , "say ""hi""",label\r\n' +
      rows(20, (i) => `"${i}.5" , ${i % 4},${label(i)}`).replace(/\n/g, '\r\n') +
      '\r\n\r\n7,8,"two\r\nlines"\r\n';
    const ds = await parseCsvDataset('quoted', [utf8(csv)], { sliceBytes: 5 });
    expect(ds.featureShape).toEqual([2]);
    // Names in sorted order: 'iris "small"', 'iris, large', 'two\r\nlines'.
    expect(ds.numClasses).toBe(3);
    expect(ds.train.count + ds.test.count).toBe(21);
    expect([...ds.test.labels]).toEqual([0, 1, 0, 1, 2]);
    expect([...ds.test.features.slice(0, 4)]).toEqual([0.5, 0, 5.5, 1]);
    // The quoted line break stays inside its cell: the last record is one example.
    expect([...ds.test.features.slice(-2)]).toEqual([7, 8]);
  });

  it('gives the same dataset read in chunks and read whole', async () => {
    const csv = utf8('a,b,label,split\n' + rows(500, (i) => `${i / 7},${-i * 1e3},${i % 3},${i % 4 ? 'train' : 'test'}`));
    const chunked = await parseCsvDataset('x', [csv.subarray(0, 1000), csv.subarray(1000)], { sliceBytes: 13 });
    const whole = parseCsvDatasetSync('x', csv);
    expect(chunked).toEqual(whole);
    expect(whole.test.count).toBe(125);
    expect(whole.numClasses).toBe(3);
  });

  it('takes 200,000 rows with integer labels (a spread over every label overflowed the stack)', async () => {
    const ds = await parseCsvDataset('big', [utf8('x,label\n' + rows(200_000, (i) => `${i % 100},${i % 10}`))]);
    expect(ds.train.count + ds.test.count).toBe(200_000);
    expect(ds.numClasses).toBe(10);
  });

  const bad: [string, string | Uint8Array, RegExp][] = [
    ['a value float32 cannot hold', 'a,b,label\n' + rows(20, (i) => (i === 4 ? '1,1e39,0' : `${i},${i},${i % 2}`)), /Line 6, column "b": 1e39 is beyond float32's range/],
    ['a negative one', 'a,label\n' + rows(20, (i) => (i === 2 ? '-4e38,0' : `${i},${i % 2}`)), /Line 4, column "a": -4e38 is beyond/],
    ['Infinity', 'a,label\n' + rows(20, (i) => (i === 2 ? 'Infinity,0' : `${i},${i % 2}`)), /Line 4, column "a": "Infinity" is not a finite number/],
    ['hexadecimal', 'a,label\n' + rows(20, (i) => (i === 2 ? '0x1A,0' : `${i},${i % 2}`)), /"0x1A" is not a finite number/],
    ['an empty cell', 'a,label\n' + rows(20, (i) => (i === 2 ? ',0' : `${i},${i % 2}`)), /Line 4, column "a": "" is not a finite number/],
    ['a duplicated label header', 'a,label,label\n' + rows(20, (i) => `${i},${i % 2},${i % 2}`), /column "label" appears twice \(columns 2 and 3\)/],
    ['a duplicated feature header', 'a,a,label\n' + rows(20, (i) => `${i},${i},${i % 2}`), /column "a" appears twice/],
    ['a header cell without a name', 'a,,label\n' + rows(20, (i) => `${i},${i},${i % 2}`), /column 2 has no name/],
    ['an unclosed quote', 'a,label\n' + rows(20, (i) => (i === 5 ? '"5,1' : `${i},${i % 2}`)), /CSV: Quote Not Closed/],
    ['text after a closing quote', 'a,label\n"1"x,0\n' + rows(20, (i) => `${i},${i % 2}`), /CSV: Invalid Closing Quote/],
    ['an empty label', 'a,label\n' + rows(20, (i) => (i === 3 ? '3,' : `${i},${i % 2}`)), /Line 5: the label is empty/],
    ['256 distinct labels', 'a,label\n' + rows(300, (i) => `${i},c${i}`), /more than 255 distinct labels/],
    ['a label too large', 'a,label\n' + rows(20, (i) => `${i},${i === 0 ? 300 : i % 2}`), /301 classes/],
    ['bytes that are not UTF-8', Uint8Array.from([...utf8('a,label\n'), 0xff, 0xfe, ...utf8(',1\n')]), /not valid UTF-8/],
  ];
  for (const [what, csv, message] of bad) {
    it(`refuses ${what}, naming where`, async () => {
      expect(await refusal(csv)).toMatch(message);
    });
  }
});

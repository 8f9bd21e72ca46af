/**
 * Reads CSV (RFC 4180, through csv-parse) record by record into a callback, never
 * holding the records: whole at start-up (readCsvSync), or as chunks arrive for
 * uploads (readCsv), at most `sliceBytes` between two returns to the event loop, so a
 * 50 MB upload never stalls the parameter server. Bytes must be UTF-8 (a BOM is
 * allowed); fields may be quoted ("a, b", "say ""hi""", line breaks inside quotes),
 * whitespace around a field is dropped, empty lines are skipped. Every failure is a
 * DatasetFormatError naming the line.
 */
import { isUtf8 } from 'node:buffer';
import { finished } from 'node:stream/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { CsvError, Parser, type Options } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { DatasetFormatError } from './dataset-errors.js';
import { Utf8Check } from './utf8-check.js';

/** One record's fields and the line it ends on (1-based, counting empty lines). */
export type OnRecord = (fields: string[], line: number) => void;

export interface ReadCsvOptions {
  /** Bytes parsed between two returns to the event loop. Default 16 KiB (about a millisecond of parsing). */
  sliceBytes?: number;
}

/** Longest field or line: a row of 4,096 numbers is well under; a runaway quote is not. */
const MAX_RECORD_CHARS = 1024 * 1024;

function options(onRecord: OnRecord): Options {
  return {
    bom: true,
    trim: true,
    skip_empty_lines: true,
    // Ragged rows reach onRecord, which names the line and both counts.
    relax_column_count: true,
    max_record_size: MAX_RECORD_CHARS,
    // Handled here and dropped: csv-parse keeps no records.
    on_record: (fields: string[], context) => {
      onRecord(fields, context.lines);
      return null;
    },
  };
}

function explain(err: unknown): unknown {
  if (err instanceof CsvError) return new DatasetFormatError(`CSV: ${err.message}`);
  return err;
}

const NOT_UTF8 = 'The file is not valid UTF-8 (save it as UTF-8 CSV)';

export function readCsvSync(bytes: Uint8Array, onRecord: OnRecord): void {
  if (!isUtf8(bytes)) throw new DatasetFormatError(NOT_UTF8);
  try {
    parseSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), options(onRecord));
  } catch (err) {
    throw explain(err);
  }
}

export async function readCsv(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, onRecord: OnRecord, opts: ReadCsvOptions = {}): Promise<void> {
  const sliceBytes = opts.sliceBytes ?? 16 * 1024;
  const parser = new Parser(options(onRecord));
  let failure: unknown = null;
  parser.on('error', (err) => (failure ??= err));
  parser.resume();
  const utf8 = new Utf8Check();
  try {
    for await (const chunk of chunks) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let at = 0; at < buf.length && failure === null; at += sliceBytes) {
        const slice = buf.subarray(at, at + sliceBytes);
        if (!utf8.push(slice)) throw new DatasetFormatError(NOT_UTF8);
        parser.write(slice);
        await yieldToEventLoop();
      }
      if (failure !== null) break;
    }
    if (failure === null && !utf8.end()) throw new DatasetFormatError(NOT_UTF8);
  } catch (err) {
    parser.destroy();
    throw failure !== null ? explain(failure) : err;
  }
  parser.end();
  try {
    await finished(parser);
  } catch (err) {
    throw explain(failure ?? err);
  }
  if (failure !== null) throw explain(failure);
}

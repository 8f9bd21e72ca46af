/**
 * Reader for the IDX format MNIST ships in (big-endian header, then raw bytes).
 * Only unsigned-byte payloads, which is what MNIST and Fashion-MNIST use.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

export function parseIdx(buf: Uint8Array, source = 'idx data'): IdxArray {
  if (buf.length < 4) throw new Error(`${source}: ${buf.length} bytes is too short for an IDX header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint16(0) !== 0) throw new Error(`${source}: not an IDX file (magic ${view.getUint16(0)})`);
  const type = view.getUint8(2);
  if (type !== UBYTE) throw new Error(`${source}: IDX element type 0x${type.toString(16)} is not unsigned byte`);
  const rank = view.getUint8(3);
  const headerBytes = 4 + 4 * rank;
  if (rank < 1 || buf.length < headerBytes) throw new Error(`${source}: bad IDX rank ${rank}`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== headerBytes + size) {
    throw new Error(`${source}: IDX dims [${dims}] need ${headerBytes + size} bytes, file has ${buf.length}`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** Reads an IDX file, gunzipping it when its name ends in .gz. */
export function readIdxFile(path: string): IdxArray {
  const raw = readFileSync(path);
  return parseIdx(path.endsWith('.gz') ? gunzipSync(raw) : raw, path);
}

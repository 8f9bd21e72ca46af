/**
 * A checkpoint file: parameters, optimizer state and data progress of one version.
 *
 *   "DPCK" | u32 header length | header JSON | payload (float32 tensors and slots)
 *
 * The header carries the SHA-256 of the payload, so a file torn by a crash mid-write
 * (or damaged later) is recognised and never loaded.
 *
 * A job on ps tasks checkpoints as a consistent cut: its file has no tensors and an
 * empty payload, and its header carries the cut's manifest (cut-manifest.ts), which
 * names the part each task wrote.
 */
import { createHash } from 'node:crypto';
import type { LedgerState } from '../data/shard-ledger.js';
import type { JobStats } from '../jobs/job-stats.js';
import type { StoreSnapshot } from '../params/parameter-store.js';
import type { CutManifest } from './cut-manifest.js';
import { floatReader } from './float-reader.js';

const MAGIC = 'DPCK';
const FORMAT = 1;

export interface CheckpointContent {
  jobId: string;
  at: number;
  store: StoreSnapshot;
  ledger: LedgerState;
  stats: JobStats;
  /** A job on ps tasks: the parts its tasks wrote (`store.tensors` is empty then). */
  cut?: CutManifest;
}

interface Header {
  format: number;
  jobId: string;
  version: number;
  applies: number;
  at: number;
  sha256: string;
  payloadBytes: number;
  /** Each tensor's name and shape (absent in older files), float count of its values, then of each of its slots. */
  tensors: { name?: string; shape?: number[]; values: number; slots: number[] }[];
  ledger: LedgerState;
  stats: JobStats;
  /** Absent unless the checkpoint is a cut over ps tasks; checked against the job before it is used (checkpoint-fit.ts). */
  cut?: CutManifest;
}

export function encodeCheckpoint(c: CheckpointContent): Buffer {
  const arrays: Float32Array[] = [];
  for (const t of c.store.tensors) arrays.push(t.values, ...t.slots);
  const payloadBytes = arrays.reduce((n, a) => n + a.byteLength, 0);
  const payload = Buffer.allocUnsafe(payloadBytes);
  let at = 0;
  for (const a of arrays) {
    payload.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  const header: Header = {
    format: FORMAT,
    jobId: c.jobId,
    version: c.store.version,
    applies: c.store.applies,
    at: c.at,
    sha256: createHash('sha256').update(payload).digest('hex'),
    payloadBytes,
    tensors: c.store.tensors.map((t) => ({ name: t.name, shape: t.shape, values: t.values.length, slots: t.slots.map((s) => s.length) })),
    ledger: c.ledger,
    stats: c.stats,
    ...(c.cut ? { cut: c.cut } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 4);
  return Buffer.concat([prefix, json, payload]);
}

/** Decodes and verifies a checkpoint; throws with the reason when it is not intact. */
export function decodeCheckpoint(buf: Buffer): CheckpointContent {
  if (buf.length < 8 || buf.toString('latin1', 0, 4) !== MAGIC) throw new Error('not a Downpour checkpoint');
  const headerLength = buf.readUInt32LE(4);
  if (8 + headerLength > buf.length) throw new Error('checkpoint header is truncated');
  const header = JSON.parse(buf.toString('utf8', 8, 8 + headerLength)) as Header;
  if (header.format !== FORMAT) throw new Error(`checkpoint format ${header.format} is not ${FORMAT}`);
  const payload = buf.subarray(8 + headerLength);
  if (payload.length !== header.payloadBytes) throw new Error(`checkpoint payload is ${payload.length} bytes, header says ${header.payloadBytes}`);
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256) throw new Error('checkpoint payload checksum mismatch');
  const take = floatReader(payload);
  return {
    jobId: header.jobId,
    at: header.at,
    store: {
      version: header.version,
      applies: header.applies,
      tensors: header.tensors.map((t) => ({ name: t.name, shape: t.shape, values: take(t.values), slots: t.slots.map(take) })),
    },
    ledger: header.ledger,
    stats: header.stats,
    ...(header.cut === undefined ? {} : { cut: header.cut }),
  };
}

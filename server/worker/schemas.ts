/**
 * Schemas for every payload a worker may send. Types are not validation: a browser
 * is untrusted, so each event's payload is parsed before any state is touched.
 */
import { z } from 'zod';
import { BACKENDS } from '../../shared/protocol.js';
import { VOLUNTEER_ID_PATTERN } from '../../shared/volunteer-protocol.js';
import { MAX_CANDIDATE_CHARS, MAX_SDP_CHARS, STAGE_PHASES } from '../../shared/replica-protocol.js';

const binary = z.custom<ArrayBuffer | Uint8Array>(
  (v) => v instanceof ArrayBuffer || v instanceof Uint8Array,
  { message: 'expected binary data (ArrayBuffer or Buffer)' },
);

const id = z.string().min(1).max(128);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const manifestSchema = z.object({
  codec: z.string().max(32),
  tensors: z
    .array(
      z.object({
        name: z.string().max(256),
        shape: z.array(z.number().int().min(0).max(1 << 30)).max(8),
        dtype: z.string().max(16),
        offset: count,
        byteLength: count,
      }),
    )
    .max(1024),
});

export const helloSchema = z.object({
  userAgent: z.string().max(512),
  forcedBackend: z.enum(BACKENDS).nullable().optional(),
  volunteerId: z.string().regex(VOLUNTEER_ID_PATTERN, 'a volunteer id is 32 lowercase hex digits').nullable().optional(),
});

export const reportSchema = z.object({
  backend: z.enum(BACKENDS),
  adapter: z
    .object({
      vendor: z.string().max(256),
      architecture: z.string().max(256),
      device: z.string().max(256),
      description: z.string().max(512),
      isFallbackAdapter: z.boolean(),
    })
    .nullable(),
  examplesPerSecond: z.number().min(0).max(1e9),
});

export const jobRefSchema = z.object({ jobId: id });

export const pullSchema = jobRefSchema.extend({ have: count.optional(), tensors: z.array(z.string().max(256)).max(1024).optional() });

/** A frame for a neighbouring stage: its size is checked by the handler (PAYLOAD_TOO_LARGE), its bytes never decoded here. */
export const relaySchema = z.object({ replicaId: id, to: id, frame: binary });

/** WebRTC signalling: forwarded as it is to one neighbour, so only its size and shape are checked here. */
export const peerDescriptionSchema = z.strictObject({ replicaId: id, to: id, sdp: z.string().min(1).max(MAX_SDP_CHARS) });
export const peerCandidateSchema = z.strictObject({
  replicaId: id,
  to: id,
  candidate: z.strictObject({
    candidate: z.string().max(MAX_CANDIDATE_CHARS),
    sdpMid: z.string().max(64).nullable(),
    sdpMLineIndex: z.number().int().min(0).max(64).nullable(),
  }),
});

/** Cumulative figures: finite and non-negative here; bounded by what the coordinator saw in server/jobs/replica-figures.ts. */
const figure = z.number().finite().min(0).max(Number.MAX_SAFE_INTEGER);
const neighbourBytes = z.object({ prev: figure, next: figure }).strict();
export const replicaReportSchema = z
  .object({
    replicaId: id,
    path: z.enum(['webrtc', 'relay']),
    bytesSent: neighbourBytes,
    bytesReceived: neighbourBytes,
    busyMs: figure,
    wallMs: figure,
    examples: count,
    phases: z.partialRecord(z.enum(STAGE_PHASES), figure).optional(),
  })
  .strict();

/** A push's claims (batches, loss) are checked against its lease and the loss bound by the job; `examples` from older pages is dropped. */
export const pushSchema = z.object({
  jobId: id,
  leaseId: id,
  baseVersion: count,
  batches: z.number().int().min(1).max(100_000),
  // JSON carries NaN and ±Infinity as null: the job refuses it with LOSS_OUT_OF_RANGE, not as a malformed message.
  loss: z.number().nullable(),
  manifest: manifestSchema,
  data: binary,
  replicaStep: count.optional(),
  psRefused: z.string().min(1).max(64).optional(),
  slot: z.string().min(1).max(32).optional(),
  // A version from 0: a round mode's held receipt names its round, and the first is round 0 (an async receipt is at least 1: the ledger refuses 0).
  psReceipts: z.array(z.object({ task: z.number().int().min(0).max(63), version: z.number().int().min(0), receipt: z.string().max(64) }).strict()).max(64).optional(),
  pull: z.object({ tensors: z.array(z.string().max(256)).max(1024), have: count.optional() }).strict().optional(),
});

/** A slot for a push of `bytes` (server/params/push-slots.ts); the bytes only set how long the grant lasts. */
export const slotSchema = jobRefSchema.extend({ bytes: z.number().int().min(0).max(2 ** 32) });

export const completeSchema = z.object({ jobId: id, leaseId: id });

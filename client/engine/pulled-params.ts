/**
 * The worker's copy of the parameters as last pulled. Each pull tells the server which
 * version the worker holds, so the server may answer with only the entries changed
 * since (shared/param-delta.ts); the copy is what that delta applies to.
 */
import { decodeTensors } from '../../shared/codec.js';
import { applyParamDelta } from '../../shared/param-delta.js';
import type { JobAssignment, ParamsSnapshot } from '../../shared/protocol.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { ExchangeTransport } from './exchange.js';

export interface Pulled {
  version: number;
  /** Fresh arrays per pull, never modified afterwards: safe to hand to tf.tensor, which may keep them. */
  values: Float32Array[];
}

export class PulledParams {
  private held: Pulled | null = null;

  constructor(
    private readonly job: JobAssignment,
    private readonly transport: Pick<ExchangeTransport, 'pull'>,
  ) {}

  async pull(): Promise<Pulled> {
    const snap = await this.transport.pull({ jobId: this.job.jobId, have: this.held?.version });
    if (!snap.ok) throw new Error(`Pull refused: ${snap.code}: ${snap.message}`);
    this.held = readPulled(this.held, snap, this.job.tensors);
    return this.held;
  }
}

/** A pull's parameters: decoded, or (a delta since the version held) applied to fresh copies of what is held. Throws on a delta it cannot apply. */
export function readPulled(held: Pulled | null, snap: Pick<ParamsSnapshot, 'version' | 'manifest' | 'data'>, specs: readonly TensorSpec[]): Pulled {
  const { manifest, data } = snap;
  if (manifest.codec !== 'delta') return { version: snap.version, values: decodeTensors({ manifest, data }, specs) };
  if (held?.version !== manifest.since) throw new Error(`Delta pull since version ${manifest.since}, but this worker holds ${held?.version}`);
  const values = held.values.map((v) => v.slice());
  const bad = applyParamDelta(manifest, data, values);
  if (bad) throw new Error(`Bad delta pull: ${bad}`);
  return { version: snap.version, values };
}

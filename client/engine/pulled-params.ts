/**
 * The worker's copy of the parameters as last pulled. Each pull tells the server which
 * version the worker holds, so the server may answer with only the entries changed
 * since (shared/param-delta.ts); the copy is what that delta applies to.
 */
import { decodeTensors } from '../../shared/codec.js';
import { applyParamDelta } from '../../shared/param-delta.js';
import type { JobAssignment } from '../../shared/protocol.js';
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
    const { manifest, data } = snap;
    let values: Float32Array[];
    if (manifest.codec === 'delta') {
      if (this.held?.version !== manifest.since) throw new Error(`Delta pull since version ${manifest.since}, but this worker holds ${this.held?.version}`);
      values = this.held.values.map((v) => v.slice());
      const bad = applyParamDelta(manifest, data, values);
      if (bad) throw new Error(`Bad delta pull: ${bad}`);
    } else {
      values = decodeTensors({ manifest, data }, this.job.tensors);
    }
    this.held = { version: snap.version, values };
    return this.held;
  }
}

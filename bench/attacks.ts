/**
 * How a Byzantine Node worker (bench/node-worker.ts --byzantine) attacks the job
 * (bench -- byzantine):
 * - sign: pushes its gradient negated (an honest norm, the wrong direction);
 * - scale: pushes its gradient ×100 (the norm bound's case);
 * - claim-batches: pushes its gradient ×1000 and claims 100,000 mini-batches, so that a
 *   bound dividing the norm by the claimed count would pass it (the coordinator counts
 *   the batches from the lease: BATCH_CLAIM);
 * - hoard: holds as many leases as it may, reports 10^6 examples per second and trains
 *   one batch every HOARD_PUSH_INTERVAL_MS (its leases are taken back at their deadlines).
 */
import type { GradientPush } from '../shared/protocol.js';

export const ATTACKS = ['sign', 'scale', 'claim-batches', 'hoard'] as const;
export type Attack = (typeof ATTACKS)[number];

/** The factor each gradient-corrupting attack multiplies its fp32 gradient by. */
export const ATTACK_FACTOR: Record<Exclude<Attack, 'hoard'>, number> = { sign: -1, scale: 100, 'claim-batches': 1000 };
/** The batch count a claim-batches attacker claims for every push. */
export const CLAIMED_BATCHES = 100_000;
/** What a hoarder reports as its speed. */
export const HOARD_CLAIMED_RATE = 1_000_000;
/** A hoarder's pace: one batch, and one push, this often (slower than any lease's grace). */
export const HOARD_PUSH_INTERVAL_MS = 15_000;

/** The push a gradient-corrupting attacker sends instead of `p` (fp32 gradients only). */
export function corruptPush(attack: Attack, p: GradientPush): GradientPush {
  if (attack === 'hoard') return p;
  if (p.manifest.codec !== 'fp32') throw new Error('the Byzantine worker only corrupts fp32 gradients');
  const bytes = p.data as Uint8Array;
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const factor = ATTACK_FACTOR[attack];
  for (let i = 0; i < f.length; i++) f[i] = f[i]! * factor;
  return attack === 'claim-batches' ? { ...p, batches: CLAIMED_BATCHES } : p;
}

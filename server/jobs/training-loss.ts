/**
 * The training loss a push reports, checked before it reaches the job's loss average.
 *
 * Workers compute the loss as ModelTrainer does: tfjs's categorical cross-entropy,
 * averaged over the batch (and a push reports the mean over its batches). tfjs clips
 * each predicted probability to [ε, 1 − ε] before its logarithm (tfjs-layers
 * losses.categoricalCrossentropy, ε = the backend's epsilon: 1e-7 in float32, 1e-4 in
 * float16), and the targets are one-hot, so one example's loss is −ln p with p ≥ ε:
 * at most −ln(1e-7) = 16.118…, and a mean of such losses is no larger. MAX_LOSS leaves
 * room for float32 rounding of the logarithm. A loss below 0, above MAX_LOSS or not a
 * number at all (NaN and ±Infinity travel as JSON null) cannot come from an honest
 * worker computing it so, and is refused with LOSS_OUT_OF_RANGE.
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';

/** −ln(1e-7), the largest loss tfjs's clipped cross-entropy can give, rounded up past float32 error. */
export const MAX_LOSS = 16.2;

export function lossRefusal(loss: number | null): Failure | null {
  if (loss !== null && Number.isFinite(loss) && loss >= 0 && loss <= MAX_LOSS) return null;
  return fail(ErrorCode.LOSS_OUT_OF_RANGE, `The reported loss ${loss === null ? 'is not a number' : String(loss)}: a mean cross-entropy lies in [0, ${MAX_LOSS}]`);
}

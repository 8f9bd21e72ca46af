/**
 * What server tests, e2e specs, the farm test and the benches share: a real coordinator
 * on port 0, real socket.io workers, event waits with named timeouts, and a manual
 * clock to step the coordinator's time.
 */
export { NO_LATE_SLOTS, startCoordinator, type Running } from './coordinator.js';
export { waitForEvent } from './events.js';
export { connectTestWorker, joinAsTrainer, joinAssigned, LeasedPusher, leaseShard, leave, pushWithSlots, settledAfterRoundTrips, type TestWorker, type TrainingWorker } from './workers.js';
export { MANUAL_CLOCK_START, ManualClock } from './manual-clock.js';
export { joinAsGradientWorker, type ComputedGradient, type GradientWorker } from './gradient-worker.js';
export { unzip } from './unzip.js';
export { bigCsv, streamUpload } from './uploads.js';
export { localParameters } from './parameters.js';

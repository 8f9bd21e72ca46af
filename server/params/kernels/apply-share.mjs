/**
 * What the apply pool (apply-pool.ts) and its helper threads (apply-helper.mjs) share:
 * the layout of their control block and command buffers, one thread's part of an
 * apply, run by the event loop and every helper alike, and how a reduction's chunk
 * results add up. Plain JavaScript so that the helpers start the same under tsx,
 * vitest and plain node, with no TypeScript loader.
 */

/**
 * Int32 fields of a crew's control block: the command generation, helpers done, the
 * arena to apply, a failure flag, the next chunk of the shared tail, helpers started.
 */
export const CTL = Object.freeze({ GEN: 0, DONE: 1, TARGET: 2, FAILED: 3, NEXT: 4, READY: 5, FIELDS: 6 });

/** Float64 fields per call in a command buffer: kernel, p, g, a, b, n, c0..c5. */
export const CALL_FIELDS = 12;
/**
 * Elements per chunk: 64 KB of each array, so taking a chunk (one atomic add) costs
 * nothing beside it. Whole 4-float vectors, so every chunk stays 16-byte aligned.
 */
export const CHUNK = 16384;
/**
 * The first 3/4 of an apply's chunks are split evenly and in order between the
 * threads, so that each thread updates the same parameters every apply and finds them
 * in its own caches. The threads then take the last quarter's chunks as they come
 * free, which absorbs a helper that woke late.
 */
const STATIC_FRACTION = 0.75;

/** How many chunks the calls in `commands` ([call count, then CALL_FIELDS per call]) make. */
export function chunkCount(commands) {
  const calls = commands[0];
  let total = 0;
  for (let k = 0; k < calls; k++) total += Math.ceil(commands[1 + k * CALL_FIELDS + 5] / CHUNK);
  return total;
}

/**
 * Thread `index` of `threads`: its static share of the calls in `commands`, then
 * chunks of the rest by incrementing `ctl[CTL.NEXT]` until none are left. Every
 * element is updated exactly once; the kernels are elementwise, so the result does not
 * depend on which thread updated it. Chunk i's kernel result goes to `sums[i]` (a
 * reduction's partial sum; 0 from an update), for the event loop to add (sumChunks).
 */
export function applyShare(kernels, commands, sums, ctl, index, threads) {
  const next = CTL.NEXT;
  const total = chunkCount(commands);
  const shared = Math.floor(total * STATIC_FRACTION);
  // The chunk indices this thread runs only grow, so one cursor walks the calls.
  let call = 0;
  let firstChunk = 0; // index of the first chunk of `call`
  /** Runs chunk `i`, the index of a chunk of all calls in order. */
  const run = (i) => {
    let o = 1 + call * CALL_FIELDS;
    for (let chunks = Math.ceil(commands[o + 5] / CHUNK); i >= firstChunk + chunks; chunks = Math.ceil(commands[o + 5] / CHUNK)) {
      firstChunk += chunks;
      call += 1;
      o += CALL_FIELDS;
    }
    const start = (i - firstChunk) * CHUNK;
    const count = Math.min(CHUNK, commands[o + 5] - start);
    const shift = start * 4;
    const c = commands;
    sums[i] = kernels[c[o]](c[o + 1] + shift, c[o + 2] + shift, c[o + 3] + shift, c[o + 4] + shift, count, c[o + 6], c[o + 7], c[o + 8], c[o + 9], c[o + 10], c[o + 11]);
  };
  const to = Math.floor((shared * (index + 1)) / threads);
  for (let i = Math.floor((shared * index) / threads); i < to; i++) run(i);
  for (let i = shared + Atomics.add(ctl, next, 1); i < total; i = shared + Atomics.add(ctl, next, 1)) run(i);
}

/**
 * A reduction's result: the chunks' sums added in chunk order, whichever thread ran
 * each, so that it does not depend on the split (nor on the number of threads).
 */
export function sumChunks(commands, sums) {
  const total = chunkCount(commands);
  let sum = 0;
  for (let i = 0; i < total; i++) sum += sums[i];
  return sum;
}

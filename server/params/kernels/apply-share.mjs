/**
 * The work of one apply, taken in chunks by the event loop (apply-pool.ts) and every
 * helper thread (apply-helper.mjs) alike. Plain JavaScript so that the helpers start
 * the same under tsx, vitest and plain node, with no TypeScript loader in the thread.
 */

/** Float64 fields per call in a command buffer: kernel, p, g, a, b, n, c0..c4. */
export const CALL_FIELDS = 11;
/**
 * Elements per chunk: 64 KB of each array, so taking a chunk (one atomic add) costs
 * nothing beside it, and a helper that wakes late simply takes fewer chunks. Whole
 * 4-float vectors, so every chunk stays 16-byte aligned for the kernels.
 */
export const CHUNK = 16384;

/**
 * Takes chunks of the calls in `commands` ([call count, then CALL_FIELDS per call])
 * by incrementing `ctl[next]` until none are left. Every element is updated exactly
 * once, by whichever thread took its chunk; the kernels are elementwise, so the
 * result does not depend on which.
 */
export function applyChunks(kernels, commands, ctl, next) {
  const calls = commands[0];
  let call = 0;
  let firstChunk = 0; // index of the first chunk of `call`
  for (let i = Atomics.add(ctl, next, 1); ; i = Atomics.add(ctl, next, 1)) {
    // Chunk indices only grow, so the call holding chunk i is at or after the last one.
    let o = 1 + call * CALL_FIELDS;
    while (call < calls && i >= firstChunk + Math.ceil(commands[o + 5] / CHUNK)) {
      firstChunk += Math.ceil(commands[o + 5] / CHUNK);
      call += 1;
      o += CALL_FIELDS;
    }
    if (call >= calls) return;
    const start = (i - firstChunk) * CHUNK;
    const count = Math.min(CHUNK, commands[o + 5] - start);
    const shift = start * 4;
    const c = commands;
    kernels[c[o]](c[o + 1] + shift, c[o + 2] + shift, c[o + 3] + shift, c[o + 4] + shift, count, c[o + 6], c[o + 7], c[o + 8], c[o + 9], c[o + 10]);
  }
}

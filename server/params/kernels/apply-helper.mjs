/**
 * A helper thread of the apply pool (apply-pool.ts).
 *
 * Each wake-up is one command from the event loop: run this thread's part of one
 * arena's apply (apply-share.mjs). The thread then counts itself done; the event loop
 * waits for all helpers before it writes the next command, so a command is never read
 * while it is being written. Arenas are announced by messages, read synchronously: the
 * thread never returns to its own event loop.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { applyShare, CTL } from './apply-share.mjs';

const { module, ctl, index, helpers, kernelNames } = workerData;
const { GEN, DONE, TARGET, FAILED, READY } = CTL;
/**
 * How long a helper polls for the next command before it sleeps. Pushes come in
 * bursts; a helper still on its core takes the next apply at once, while one that
 * slept must be woken and scheduled again, which costs tens of microseconds.
 */
const SPIN_MS = 0.2;

/** Arena id → this thread's kernels over that arena's memory, its command buffer and its chunk sums. */
const arenas = new Map();

function takeMessages() {
  for (let m = receiveMessageOnPort(parentPort); m; m = receiveMessageOnPort(parentPort)) {
    const { id, memory, commands, sums } = m.message;
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    arenas.set(id, { kernels: kernelNames.map((name) => exports[name]), commands: new Float64Array(commands), sums: new Float64Array(sums) });
  }
}

Atomics.add(ctl, READY, 1);
Atomics.notify(ctl, READY);

let seen = 0;
for (;;) {
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(ctl, GEN) === seen && performance.now() < spinUntil);
  Atomics.wait(ctl, GEN, seen);
  seen = Atomics.load(ctl, GEN);
  try {
    takeMessages();
    const target = Atomics.load(ctl, TARGET);
    const arena = arenas.get(target);
    if (!arena) throw new Error(`apply pool thread ${index}: arena ${target} was never attached`);
    applyShare(arena.kernels, arena.commands, arena.sums, ctl, index, helpers + 1);
  } catch (err) {
    Atomics.store(ctl, FAILED, 1);
    parentPort.postMessage({ type: 'error', message: String(err?.stack ?? err) });
  }
  if (Atomics.add(ctl, DONE, 1) + 1 === helpers) Atomics.notify(ctl, DONE);
}

/**
 * One stop per signal burst, for the entry points (`npm start`, `npm run farm`).
 *
 * Supervisors stop a program by signalling its whole process group: systemd's
 * control-group stop, `timeout`, CI runners, `kill -TERM -- -PGID`, and a terminal's
 * Ctrl-C, which reaches every process in the foreground group. The program then gets
 * the signal once directly and once more from each wrapper that relays it to its
 * child (npm forwards SIGINT and SIGTERM to its script; the tsx CLI to its child), and
 * a supervisor may send SIGINT and SIGTERM together. All of that is one request to
 * stop. A signal that comes after the burst is someone asking again, because the
 * clean stop is taking too long: the entry point exits without waiting.
 */

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * Signals this soon after the first are the same stop. Relays come within tens of
 * milliseconds (npm forwards at once: 20–30 ms measured under load here; tsx's CLI
 * waits 30 ms for its child to acknowledge before it relays), a loaded machine can
 * stretch that to a few hundred. A person asking again has first read the "stopping"
 * line and decided the stop is slow, which takes longer than a second.
 */
export const SIGNAL_BURST_MS = 1000;

/** Where signals come from: `process`, or an emitter in tests. */
export interface SignalSource {
  on(signal: StopSignal, listener: (signal: StopSignal) => void): unknown;
  off(signal: StopSignal, listener: (signal: StopSignal) => void): unknown;
}

export interface StopSignalOptions {
  /** The first signal: begin a clean stop. Called once. */
  onStop: (signal: StopSignal) => void;
  /** A signal after the burst: exit without waiting. Called for every such signal. */
  onForce: (signal: StopSignal, msAfterFirst: number) => void;
  /** A signal within the burst (a relay, or the other signal of a group stop), for the log. Default: ignored. */
  onRelay?: (signal: StopSignal, msAfterFirst: number) => void;
  /** Default SIGNAL_BURST_MS. A signal exactly this long after the first already forces. */
  burstMs?: number;
  /** Monotonic milliseconds. Default performance.now. */
  now?: () => number;
  /** Default process. */
  source?: SignalSource;
}

/** Listens for SIGINT and SIGTERM; returns a function that stops listening. */
export function onStopSignals(options: StopSignalOptions): () => void {
  const burstMs = options.burstMs ?? SIGNAL_BURST_MS;
  if (!Number.isFinite(burstMs) || burstMs < 0) throw new RangeError(`burstMs must be a finite number ≥ 0, got ${burstMs}`);
  const now = options.now ?? (() => performance.now());
  const source = options.source ?? process;
  let firstAt: number | null = null;
  const listener = (signal: StopSignal) => {
    const at = now();
    if (firstAt === null) {
      firstAt = at;
      options.onStop(signal);
      return;
    }
    const after = at - firstAt;
    if (after < burstMs) options.onRelay?.(signal, after);
    else options.onForce(signal, after);
  };
  for (const signal of STOP_SIGNALS) source.on(signal, listener);
  return () => {
    for (const signal of STOP_SIGNALS) source.off(signal, listener);
  };
}

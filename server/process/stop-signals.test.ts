/** The burst rule of server/process/stop-signals.ts, on an emitter and a clock the test steps. */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onStopSignals, SIGNAL_BURST_MS, STOP_SIGNALS, type StopSignal } from './stop-signals.js';

function harness(burstMs?: number) {
  const source = new EventEmitter();
  let clock = 0;
  const calls: string[] = [];
  const dispose = onStopSignals({
    source,
    burstMs,
    now: () => clock,
    onStop: (s) => calls.push(`stop ${s}`),
    onRelay: (s, ms) => calls.push(`relay ${s} ${ms}`),
    onForce: (s, ms) => calls.push(`force ${s} ${ms}`),
  });
  return {
    source,
    calls,
    dispose,
    /** Steps the clock to `at` ms and delivers the signal, as the process would. */
    signal(signal: StopSignal, at: number) {
      clock = at;
      source.emit(signal, signal);
    },
  };
}

describe('onStopSignals', () => {
  it('takes a group stop (the signal, its relays, the other signal) inside the window as one stop', () => {
    const h = harness();
    h.signal('SIGTERM', 5000);
    h.signal('SIGTERM', 5022); // npm's relay
    h.signal('SIGTERM', 5060); // tsx's relay, after its 30 ms wait
    h.signal('SIGINT', 5000 + SIGNAL_BURST_MS - 1);
    expect(h.calls).toEqual(['stop SIGTERM', 'relay SIGTERM 22', 'relay SIGTERM 60', `relay SIGINT ${SIGNAL_BURST_MS - 1}`]);
  });

  it('exits at once on a signal from the end of the window on, every time', () => {
    const h = harness();
    h.signal('SIGINT', 100);
    h.signal('SIGINT', 100 + SIGNAL_BURST_MS);
    h.signal('SIGTERM', 100 + 3 * SIGNAL_BURST_MS);
    expect(h.calls).toEqual(['stop SIGINT', `force SIGINT ${SIGNAL_BURST_MS}`, `force SIGTERM ${3 * SIGNAL_BURST_MS}`]);
  });

  it('measures the window from the first signal, not from the last relay', () => {
    const h = harness(200);
    h.signal('SIGTERM', 0);
    h.signal('SIGTERM', 150);
    h.signal('SIGTERM', 250);
    expect(h.calls).toEqual(['stop SIGTERM', 'relay SIGTERM 150', 'force SIGTERM 250']);
  });

  it('with a window of 0, any second signal forces', () => {
    const h = harness(0);
    h.signal('SIGTERM', 7);
    h.signal('SIGTERM', 7);
    expect(h.calls).toEqual(['stop SIGTERM', 'force SIGTERM 0']);
  });

  it('listens for SIGINT and SIGTERM until disposed', () => {
    const h = harness();
    for (const s of STOP_SIGNALS) expect(h.source.listenerCount(s)).toBe(1);
    h.dispose();
    for (const s of STOP_SIGNALS) expect(h.source.listenerCount(s)).toBe(0);
    h.signal('SIGTERM', 1);
    expect(h.calls).toEqual([]);
  });

  it('installs on the process by default, beside its other listeners', () => {
    const before = STOP_SIGNALS.map((s) => process.listenerCount(s));
    const dispose = onStopSignals({ onStop: () => {}, onForce: () => {} });
    expect(STOP_SIGNALS.map((s) => process.listenerCount(s))).toEqual(before.map((n) => n + 1));
    dispose();
    expect(STOP_SIGNALS.map((s) => process.listenerCount(s))).toEqual(before);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses a burst window of %s', (burstMs) => {
    expect(() => onStopSignals({ burstMs, onStop: () => {}, onForce: () => {}, source: new EventEmitter() })).toThrow(/burstMs/);
  });
});

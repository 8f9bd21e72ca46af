import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { CLIP_WINDOW, MAX_CLIPS, MIN_WORKERS, NormBound, WARM_PUSHES } from './norm-bound.js';

/** Judges a push and, as the gate does when every check passed, records it; true when accepted within the bound. */
function push(b: NormBound, worker: string, norm: number): boolean {
  return verdict(b, worker, norm) === 'within';
}

/** The gate's reading of a push: within the bound, clipped to it (then recorded as such), or refused. */
function verdict(b: NormBound, worker: string, norm: number): 'within' | 'clipped' | 'refused' {
  const v = b.judge(norm, worker);
  if (v && 'ok' in v) {
    expect(v.code).toBe(ErrorCode.NORM_OUTLIER);
    return 'refused';
  }
  b.record(worker, norm, v !== null);
  return v ? 'clipped' : 'within';
}

describe('norm bound', () => {
  it('refuses a 100× push from the very first one when it has the PS\'s own gradient norm', () => {
    const b = new NormBound(10, 2.0);
    expect(push(b, 'w1', 200)).toBe(false);
    expect(push(b, 'w1', 1.8)).toBe(true);
  });

  it('does not let refused pushes move it: the sixth 10,000× push is refused like the first five', () => {
    const b = new NormBound(10, 1);
    for (let i = 0; i < 6; i++) expect(push(b, `attacker${i % 2}`, 10_000), `push ${i}`).toBe(false);
    expect(b.median).toBe(1);
    expect(push(b, 'honest', 9)).toBe(true);
  });

  it('keeps one sample per worker: a worker pushing tiny norms fast cannot drag the median down', () => {
    const b = new NormBound(10, 1);
    for (const w of ['a', 'b', 'c']) expect(push(b, w, 1)).toBe(true);
    for (let i = 0; i < 500; i++) expect(push(b, 'dragger', 1e-6)).toBe(true);
    expect(b.median).toBe(1);
    expect(push(b, 'a', 9)).toBe(true);
  });

  it('stops a lone worker\'s ramp: pushes just under the bound cannot raise it', () => {
    const b = new NormBound(10, 1);
    expect(push(b, 'ramp', 9.9)).toBe(true);
    expect(b.median).toBe(1); // the reference alone while few workers have samples
    expect(push(b, 'ramp', 9.9 * 9.9)).toBe(false);
    for (let i = 0; i < 50; i++) push(b, 'ramp', 9.9);
    expect(b.median).toBe(1);
  });

  it('lets a lone worker\'s norm jump past factor × its last push while it stays within factor × the reference', () => {
    const b = new NormBound(10, 1.5);
    expect(push(b, 'lone', 0.5)).toBe(true);
    expect(push(b, 'lone', 7.2)).toBe(true);
    expect(push(b, 'lone', 15.1)).toBe(false);
  });

  it('takes a new reference from the PS, and keeps the last when handed one that is not a norm', () => {
    const b = new NormBound(10, 0.6);
    expect(push(b, 'lone', 7.4)).toBe(false);
    b.setReference(2.5);
    expect(push(b, 'lone', 7.4)).toBe(true);
    for (const bad of [0, -1, NaN, Infinity]) b.setReference(bad);
    expect(b.median).toBe(2.5);
  });

  it('bounds a ramping worker among honest ones by the honest norms', () => {
    const b = new NormBound(10, 1);
    let norm = 0.5;
    for (let step = 0; step < 100; step++) {
      for (const w of ['a', 'b', 'c']) push(b, w, 0.5);
      if (push(b, 'ramp', norm * 9.9)) norm *= 9.9;
    }
    expect(norm).toBe(0.5 * 9.9); // its first step, and no other
    expect(b.median).toBe(0.5);
  });

  it(`drops the reference once ${MIN_WORKERS} workers have samples, and follows honest norms as they shrink`, () => {
    const b = new NormBound(10, 5);
    for (let i = 0; i < 300; i++) for (const w of ['a', 'b', 'c']) expect(push(b, w, 5 * Math.pow(0.99, i))).toBe(true);
    expect(b.median).toBeCloseTo(5 * Math.pow(0.99, 299), 9);
    expect(push(b, 'a', 5)).toBe(false); // the start-of-training norm is now an outlier
  });

  it('forgets a departed worker, and the least recent one beyond its window', () => {
    const b = new NormBound(10, 1, 3);
    for (const [w, v] of [['a', 100], ['b', 0.5], ['c', 0.5]] as const) b.record(w, v);
    expect(b.median).toBe(0.5);
    b.forget('b');
    expect(b.median).toBe(1); // two workers left: the reference again
    b.record('d', 2);
    b.record('e', 2); // a is the least recent: out of the window of 3
    expect(b.median).toBe(2);
  });

  it('without a reference, holds once a worker has a sample', () => {
    const b = new NormBound(10, null);
    expect(b.median).toBeNull();
    expect(push(b, 'a', 1e6)).toBe(true);
    expect(push(b, 'b', 1)).toBe(true);
    expect(push(b, 'a', 1e6)).toBe(false); // lower median of {1e6, 1}
  });

  it('is off with factor 0', () => {
    expect(new NormBound(0, 1).judge(1e9)).toBeNull();
  });

  it(`clips a warm worker's early transient to the bound (${MAX_CLIPS} in a row at most), without letting it into the median`, () => {
    const b = new NormBound(10, 0.642);
    for (let i = 0; i < WARM_PUSHES; i++) expect(verdict(b, 'cnn', 2)).toBe('within');
    // The cnn's transient, measured (2 stages, one step stale): 11.0 and 7.0 per batch against a bound of 6.42.
    const v = b.judge(11.045, 'cnn');
    expect(v).toEqual({ clip: expect.closeTo(6.42 / 11.045, 9) });
    expect(verdict(b, 'cnn', 11.045)).toBe('clipped');
    expect(verdict(b, 'cnn', 7.002)).toBe('clipped');
    expect(b.median).toBe(0.642);
    expect(verdict(b, 'cnn', 1.6)).toBe('within');
  });

  it('refuses the next over-bound push after a clip run, and clips again only after the worker is warm again', () => {
    const b = new NormBound(10, 1);
    for (let i = 0; i < WARM_PUSHES; i++) verdict(b, 'w', 1);
    for (let i = 0; i < MAX_CLIPS; i++) expect(verdict(b, 'w', 100)).toBe('clipped');
    expect(verdict(b, 'w', 100)).toBe('refused');
    expect(verdict(b, 'w', 100)).toBe('refused');
    for (let i = 0; i < WARM_PUSHES - 1; i++) expect(verdict(b, 'w', 1)).toBe('within');
    expect(verdict(b, 'w', 100)).toBe('refused'); // one short of warm
    expect(verdict(b, 'w', 1)).toBe('within');
    expect(verdict(b, 'w', 100)).toBe('clipped');
  });

  it(`clips a transient that swings over, under and over the bound again, at most ${MAX_CLIPS} of any ${CLIP_WINDOW} pushes`, () => {
    // Measured: the cnn's stage 0 at three steps in flight, 3.34 at step 17, within at 18, 3.15 at 19, against 10 × 0.307.
    const b = new NormBound(10, 0.307);
    for (let i = 0; i < 16; i++) verdict(b, 's0', 1);
    expect(verdict(b, 's0', 3.34)).toBe('clipped');
    expect(verdict(b, 's0', 1)).toBe('within');
    expect(verdict(b, 's0', 3.15)).toBe('clipped');
    expect(verdict(b, 's0', 1)).toBe('within');
    expect(verdict(b, 's0', 3.2)).toBe('clipped');
    // Three clips among its last six: the next over-bound push is refused, until the first of them leaves the window.
    expect(verdict(b, 's0', 3.2)).toBe('refused');
    expect(b.judge(3.2, 's0')).toMatchObject({ message: expect.stringContaining('3 of its last 6 were clipped to it') });
    expect(verdict(b, 's0', 1)).toBe('within');
    expect(verdict(b, 's0', 1)).toBe('within');
    expect(verdict(b, 's0', 3.2)).toBe('clipped');
  });

  it('refuses a cold worker: a 100× attacker from its first push, a worker just forgotten, and any caller that names no worker', () => {
    const b = new NormBound(10, 1);
    for (let i = 0; i < 10; i++) expect(verdict(b, 'attacker', 100), `push ${i}`).toBe('refused');
    for (let i = 0; i < WARM_PUSHES; i++) verdict(b, 'left', 1);
    b.forget('left');
    expect(verdict(b, 'left', 100)).toBe('refused');
    expect(b.judge(100)).toMatchObject({ code: ErrorCode.NORM_OUTLIER });
  });
});

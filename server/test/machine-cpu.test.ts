import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { busyShare, machineCpu, parseMachineCpu } from '../../bench/proc-cpu.js';

describe("the machine's CPU share a bench row reports (bench/proc-cpu.ts)", () => {
  it('counts every state but idle and iowait as busy', () => {
    const stat = 'cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n';
    expect(parseMachineCpu(stat)).toEqual({ busy: 160, total: 1000 });
  });

  it('refuses a line that is not the aggregate one', () => {
    expect(parseMachineCpu('cpu0 1 2 3 4 5\n')).toBeNull();
    expect(parseMachineCpu('cpu  1 2 x 4 5\n')).toBeNull();
    expect(parseMachineCpu('')).toBeNull();
  });

  it('is the busy share between two readings, null without both', () => {
    expect(busyShare({ busy: 100, total: 1000 }, { busy: 250, total: 1200 })).toBeCloseTo(0.75);
    expect(busyShare(null, { busy: 1, total: 2 })).toBeNull();
    expect(busyShare({ busy: 1, total: 2 }, { busy: 1, total: 2 })).toBeNull();
  });

  it.runIf(process.platform === 'linux')("reads this machine's /proc/stat, and a spinning thread shows", () => {
    const a = machineCpu()!;
    const end = performance.now() + 300;
    let spins = 0;
    while (performance.now() < end) spins++;
    const b = machineCpu()!;
    expect(spins).toBeGreaterThan(0);
    // One of the machine's cores spun for the whole interval (others' work only adds to it).
    expect(busyShare(a, b)!).toBeGreaterThan(0.8 / cpus().length);
    expect(busyShare(a, b)!).toBeLessThanOrEqual(1);
  });
});

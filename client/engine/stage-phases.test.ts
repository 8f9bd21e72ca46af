import { describe, expect, it } from 'vitest';
import { StageMeter } from './stage-meter.js';
import { StagePhases } from './stage-phases.js';

describe('StagePhases', () => {
  it("sums each phase's time; the stage's own work is busy on its meter, its waits are not", async () => {
    let t = 0;
    const meter = new StageMeter(() => t);
    const busy: number[] = [];
    const phases = new StagePhases({ begin: () => meter.begin(), end: (ms) => (meter.end(), busy.push(ms)) }, () => t);
    let answer = () => {};
    const answered = new Promise<void>((r) => (answer = r));
    const waiting = phases.time('wait-answer', () => answered);
    t = 10;
    phases.timeSync('send-frame', () => (t = 12)); // encoding a frame while the answer is awaited
    await phases.time('apply-pull', async () => {
      t = 15;
    });
    t = 40;
    answer();
    await waiting;
    await phases.time('forward', async () => {
      t = 50;
    });
    expect(phases.read()).toEqual({ 'wait-answer': 40, 'send-frame': 2, 'apply-pull': 3, forward: 10 });
    expect(busy).toEqual([2, 3, 10]);
    expect(meter.report('r1', 'relay')).toMatchObject({ busyMs: 15, wallMs: 50 });
  });

  it('ends the busy time of work that throws', async () => {
    let t = 0;
    const meter = new StageMeter(() => t);
    const phases = new StagePhases({ begin: () => meter.begin(), end: () => meter.end() }, () => t);
    await expect(
      phases.time('backward', async () => {
        t = 7;
        throw new Error('a bad micro-batch');
      }),
    ).rejects.toThrow('a bad micro-batch');
    t = 20;
    expect(meter.report('r1', 'relay').busyMs).toBe(7);
    expect(phases.read()).toEqual({ backward: 7 });
  });
});

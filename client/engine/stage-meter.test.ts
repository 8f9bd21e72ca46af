import { describe, expect, it } from 'vitest';
import { StageMeter } from './stage-meter.js';

describe('StageMeter', () => {
  it('counts overlapping work once, so busy never exceeds wall', () => {
    let t = 100;
    const m = new StageMeter(() => t);
    m.begin(); // a forward from 100 …
    t = 110;
    m.begin(); // … and a backward from 110, overlapping it
    t = 120;
    m.end();
    t = 130;
    m.end(); // both done: 30 ms busy, not 20 + 30
    t = 150;
    expect(m.report('r1', 'relay')).toMatchObject({ replicaId: 'r1', path: 'relay', busyMs: 30, wallMs: 50 });
  });

  it('counts work still running at the report, and bytes and examples by neighbour', () => {
    let t = 0;
    const m = new StageMeter(() => t);
    m.sentTo('next', 1000);
    m.sentTo('prev', 10);
    m.receivedFrom('prev', 400);
    m.forwarded(8);
    m.forwarded(7);
    m.begin();
    t = 5;
    expect(m.report('r2', 'webrtc')).toEqual({
      replicaId: 'r2',
      path: 'webrtc',
      bytesSent: { prev: 10, next: 1000 },
      bytesReceived: { prev: 400, next: 0 },
      busyMs: 5,
      wallMs: 5,
      examples: 15,
    });
  });
});

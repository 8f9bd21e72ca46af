import { describe, expect, it } from 'vitest';
import { frameBytes, TrafficMeter, utf8Length } from './traffic-meter.js';

describe('TrafficMeter', () => {
  it('adds each way up and averages the last window per second', () => {
    let t = 0;
    const m = new TrafficMeter({ now: () => t, windowMs: 1000 });
    const heard: number[] = [];
    m.onBytes((b) => heard.push(b));
    t = 500;
    m.count('sent', 1000);
    m.count('received', 4000);
    expect(m.perSecond()).toEqual({ sent: 2000, received: 8000 }); // 500 ms since the start
    t = 1200;
    m.count('sent', 500);
    expect(m.perSecond()).toEqual({ sent: 1500, received: 4000 });
    t = 2000;
    expect(m.perSecond()).toEqual({ sent: 500, received: 0 });
    expect(m.total).toEqual({ sent: 1500, received: 4000 });
    expect(heard).toEqual([1000, 4000, 500]);
  });

  it('counts a frame as the WebSocket carries it', () => {
    expect(frameBytes(undefined, 'received')).toBe(3); // a ping: "2" and a 2-byte header
    expect(frameBytes(undefined, 'sent')).toBe(7); // a pong, masked
    expect(frameBytes('0{"a":1}', 'received')).toBe(2 + 1 + 8);
    expect(frameBytes(new Uint8Array(125), 'received')).toBe(127);
    expect(frameBytes(new Uint8Array(126), 'sent')).toBe(126 + 4 + 4);
    expect(frameBytes(new ArrayBuffer(70_000), 'received')).toBe(70_000 + 10);
  });

  it('measures UTF-8 without encoding', () => {
    for (const s of ['', 'abc', 'é', '€', '𝄞', 'a€𝄞é']) expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
  });
});

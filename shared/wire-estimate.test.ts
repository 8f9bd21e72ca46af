import { describe, expect, it } from 'vitest';
import { estimateWire, megabytesPerHour, pushBytes, type WireFacts } from './wire-estimate.js';

const mnist: WireFacts = { codec: 'fp32', topkRatio: 0.008, nPush: 1, nFetch: 1, batchSize: 64, bytesPerExampleOfData: 785, sparseUpdates: true };
// The mlp preset's parameter count (784·128 + 128 + 128·10 + 10).
const MLP = 101_770;

describe('wire estimate', () => {
  it('sizes a push by codec', () => {
    expect(pushBytes(1000, 'fp32', 0.01)).toBe(4000);
    expect(pushBytes(1000, 'fp16', 0.01)).toBe(2000);
    expect(pushBytes(1000, 'topk', 0.01)).toBe(80);
    expect(pushBytes(1000, 'topk-packed', 0.01)).toBe(40);
  });
  it('an fp32 mlp moves a full push and pull per batch: ~6.8 kB per example each way', () => {
    const e = estimateWire(MLP, mnist);
    expect(e.upPerExample).toBeCloseTo((4 * MLP + 300) * 1.07 / 64, 0);
    expect(e.downPerExample).toBeCloseTo((4 * MLP + 300 + 64 * 785) * 1.07 / 64, 0);
    // The tab: ~40 pushes/s of 64 examples moved 12-19 MB/s each way.
    expect(megabytesPerHour(e, 2560) / 3600).toBeGreaterThan(30);
  });
  it('topk-packed with pull deltas costs a fraction, the data download then dominating', () => {
    const e = estimateWire(MLP, { ...mnist, codec: 'topk-packed' });
    expect(e.upPerExample).toBeLessThan(80);
    expect(e.downPerExample).toBeLessThan(1000);
    // Deltas grow with the workers pushing between two pulls, up to a full pull.
    expect(estimateWire(MLP, { ...mnist, codec: 'topk-packed' }, 10).downPerExample).toBeGreaterThan(e.downPerExample);
    expect(estimateWire(MLP, { ...mnist, codec: 'topk-packed' }, 1000).downPerExample).toBeCloseTo(estimateWire(MLP, mnist).downPerExample, 0);
  });
  it('no deltas under adam or momentum: every pull is full', () => {
    expect(estimateWire(MLP, { ...mnist, codec: 'topk-packed', sparseUpdates: false }).downPerExample).toBeCloseTo(estimateWire(MLP, mnist).downPerExample, 0);
  });
});

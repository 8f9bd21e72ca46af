import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { DEFAULT_PARTITION_BYTES, partitionCount, Placement, type PlacedSlice } from './placement.js';

const spec = (name: string, ...shape: number[]): TensorSpec => ({ name, shape });
const where = (p: Placement) => p.slices.map((s) => `${s.name}@${s.task}`);

/** 784-2048-2048-10 (the mlp-large preset on MNIST): the example docs/cluster.md works through. */
const MLP_LARGE: TensorSpec[] = [
  spec('dense1/kernel', 784, 2048),
  spec('dense1/bias', 2048),
  spec('dense2/kernel', 2048, 2048),
  spec('dense2/bias', 2048),
  spec('output/kernel', 2048, 10),
  spec('output/bias', 10),
];

describe('greedy placement by bytes (GreedyLoadBalancingStrategy with byte_size_load_fn)', () => {
  it('puts each tensor, in the model order, on the least-loaded task', () => {
    const p = Placement.of([spec('a', 100), spec('b', 10), spec('c', 10), spec('d', 200), spec('e', 150)], { tasks: 2 });
    // a→0 (tie); b→1; c→1 (80 B < 400 B); d→1 (80 < 400); e→0 (400 < 880).
    expect(where(p)).toEqual(['a@0', 'b@1', 'c@1', 'd@1', 'e@0']);
    expect(p.bytesPerTask).toEqual([1000, 880]);
  });

  it('breaks ties towards the lowest task index', () => {
    const p = Placement.of([spec('a', 5), spec('b', 5), spec('c', 5), spec('d', 5), spec('e', 5)], { tasks: 3 });
    expect(p.slices.map((s) => s.task)).toEqual([0, 1, 2, 0, 1]);
  });

  it('places in the model order, not largest first (as TensorFlow places in creation order)', () => {
    const p = Placement.of([spec('small', 1), spec('large', 1000)], { tasks: 2 });
    expect(where(p)).toEqual(['small@0', 'large@1']);
  });

  it('puts everything whole on task 0 when there is one task, however large', () => {
    const p = Placement.of(MLP_LARGE, { tasks: 1 });
    expect(p.slices.every((s) => s.task === 0 && s.partitions === 1)).toBe(true);
    expect(p.slices.map((s) => s.name)).toEqual(MLP_LARGE.map((s) => s.name));
    expect(p.bytesPerTask).toEqual([p.parameters * 4]);
    expect(p.specsOf(0)).toEqual(MLP_LARGE);
  });

  it('counts bytes per task as the sum of its slices, and every byte of the model once', () => {
    const p = Placement.of(MLP_LARGE, { tasks: 3, partitionBytes: 1 << 20 });
    p.byTask.forEach((slices, t) => expect(p.bytesPerTask[t]).toBe(slices.reduce((n, s) => n + s.bytes, 0)));
    const modelBytes = MLP_LARGE.reduce((n, s) => n + sizeOf(s.shape) * 4, 0);
    expect(p.bytesPerTask.reduce((a, b) => a + b, 0)).toBe(modelBytes);
    expect(p.parameters * 4).toBe(modelBytes);
  });

  it('places mlp-large on 2 tasks as docs/cluster.md shows', () => {
    const p = Placement.of(MLP_LARGE, { tasks: 2 });
    expect(where(p)).toEqual([
      'dense1/kernel/part_0@0',
      'dense1/kernel/part_1@1',
      'dense1/bias@0',
      'dense2/kernel/part_0@1',
      'dense2/kernel/part_1@0',
      'dense2/bias@1',
      'output/kernel@0',
      'output/bias@1',
    ]);
    expect(p.bytesPerTask).toEqual([11_689_984, 11_608_104]);
  });

  it('refuses a task count outside 1..64 and a partition size that is not positive', () => {
    expect(() => Placement.of(MLP_LARGE, { tasks: 0 })).toThrow(RangeError);
    expect(() => Placement.of(MLP_LARGE, { tasks: 65 })).toThrow(RangeError);
    expect(() => Placement.of(MLP_LARGE, { tasks: 1.5 })).toThrow(RangeError);
    expect(() => Placement.of(MLP_LARGE, { tasks: 2, partitionBytes: 0 })).toThrow(RangeError);
  });
});

describe('partitioned variables: a tensor above partitionBytes is split by rows', () => {
  it('makes min(tasks, rows, ceil(bytes / partitionBytes)) partitions', () => {
    expect(partitionCount(120, 10, 4, 40)).toBe(3); // ceil(120 / 40)
    expect(partitionCount(4000, 10, 4, 40)).toBe(4); // tasks
    expect(partitionCount(4000, 3, 8, 40)).toBe(3); // rows
    expect(partitionCount(40, 10, 4, 40)).toBe(1); // not above
    expect(partitionCount(4000, 1, 4, 40)).toBe(1); // one row cannot be split
    expect(DEFAULT_PARTITION_BYTES).toBe(1024 * 1024);
  });

  it('splits into contiguous row ranges whose sizes differ by at most one, the first ones larger', () => {
    for (const [rows, cols, tasks] of [[10, 3, 3], [7, 5, 4], [2048, 2048, 2], [1000, 1, 7], [5, 2, 64], [64, 9, 64]] as const) {
      const p = Placement.of([spec('w', rows, cols)], { tasks, partitionBytes: 4 });
      const parts = p.slicesOf(0);
      expect(parts.length).toBe(Math.min(tasks, rows));
      const counts = parts.map((s) => s.rowEnd - s.rowStart);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      expect(counts).toEqual([...counts].sort((a, b) => b - a));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(rows);
      parts.forEach((s, k) => {
        expect(s.rowStart).toBe(k === 0 ? 0 : parts[k - 1]!.rowEnd);
        expect(s).toMatchObject({ name: `w/part_${k}`, partition: k, partitions: parts.length, shape: [s.rowEnd - s.rowStart, cols] });
        expect(s.offset).toBe(s.rowStart * cols);
        expect(s.length).toBe((s.rowEnd - s.rowStart) * cols);
      });
    }
  });

  it('places each partition greedily, like a tensor', () => {
    // 3 partitions of 4 rows × 10 floats (160 B) onto loads [0, 0, 0] after nothing: one each;
    // then a fourth tensor goes to task 0 again.
    const p = Placement.of([spec('w', 12, 10), spec('b', 10)], { tasks: 3, partitionBytes: 200 });
    expect(where(p)).toEqual(['w/part_0@0', 'w/part_1@1', 'w/part_2@2', 'b@0']);
  });

  it('keeps a one-row tensor whole, however large', () => {
    const p = Placement.of([spec('row', 1, 1_000_000)], { tasks: 4 });
    expect(p.slices).toHaveLength(1);
    expect(p.slices[0]).toMatchObject({ name: 'row', partitions: 1, rowStart: 0, rowEnd: 1, shape: [1, 1_000_000] });
  });

  it('splits a rank-1 tensor element-wise (each element is a row)', () => {
    const p = Placement.of([spec('v', 1001)], { tasks: 4, partitionBytes: 400 });
    expect(p.slices.map((s) => s.shape)).toEqual([[251], [250], [250], [250]]);
    expect(p.slices.map((s) => s.offset)).toEqual([0, 251, 501, 751]);
  });

  it('keeps a tensor at or below partitionBytes whole, and a scalar whole', () => {
    const p = Placement.of([spec('small', 256, 1024), spec('scalar'), spec('tiny', 3)], { tasks: 8 });
    expect(p.slices.map((s) => [s.name, s.partitions, s.shape])).toEqual([
      ['small', 1, [256, 1024]], // exactly 1 MiB: not above it
      ['scalar', 1, []],
      ['tiny', 1, [3]],
    ]);
    expect(p.slices[1]).toMatchObject({ rowStart: 0, rowEnd: 1, length: 1, bytes: 4 });
  });

  it('splits a tensor one element over the limit', () => {
    const p = Placement.of([spec('big', 256 * 1024 + 1)], { tasks: 2 });
    expect(p.slices.map((s) => s.length)).toEqual([131_073, 131_072]);
  });
});

describe('split and join', () => {
  /** Random bit patterns, NaN payloads, infinities and negative zeros included. */
  const randomBits = (n: number, seed: number) => {
    const rand = seededRandom(seed);
    const bits = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
    return new Float32Array(bits.buffer);
  };
  const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
  const model = [spec('a', 37, 11), spec('b', 11), spec('c'), spec('d', 1, 300), spec('e', 64, 3, 3, 2), spec('f', 0, 5)];

  for (const tasks of [1, 2, 3, 7]) {
    it(`round-trips a flat parameter vector bit for bit over ${tasks} task(s)`, () => {
      const p = Placement.of(model, { tasks, partitionBytes: 64 });
      const flat = randomBits(p.parameters, tasks);
      const parts = p.splitFlat(flat);
      expect(parts.map((slices) => slices.map((v) => v.length))).toEqual(p.byTask.map((slices) => slices.map((s) => s.length)));
      // What a task receives is a copy: joining copies must give back every bit.
      const received = parts.map((slices) => slices.map((v) => v.slice()));
      expect(bitsOf(p.joinFlat(received))).toEqual(bitsOf(flat));
    });

    it(`round-trips the model's per-tensor arrays bit for bit over ${tasks} task(s)`, () => {
      const p = Placement.of(model, { tasks, partitionBytes: 64 });
      const sizes = model.map((s) => sizeOf(s.shape));
      const tensors = sizes.map((n, i) => randomBits(n, 100 + i));
      const received = p.splitTensors(tensors).map((slices) => slices.map((v) => v.slice()));
      p.joinTensors(received, sizes).forEach((t, i) => expect(bitsOf(t)).toEqual(bitsOf(tensors[i]!)));
    });
  }

  it('splits the flat vector and the per-tensor arrays into the same values', () => {
    const p = Placement.of(model, { tasks: 3, partitionBytes: 64 });
    const flat = randomBits(p.parameters, 9);
    const tensors = model.map((_, i) => flat.slice(p.slicesOf(i)[0]!.flatOffset, p.slicesOf(i)[0]!.flatOffset + sizeOf(model[i]!.shape)));
    expect(p.splitTensors(tensors).map((s) => s.map(bitsOf))).toEqual(p.splitFlat(flat).map((s) => s.map(bitsOf)));
  });

  it('refuses parts that do not fit the placement', () => {
    const p = Placement.of(model, { tasks: 2, partitionBytes: 64 });
    expect(() => p.splitFlat(new Float32Array(p.parameters + 1))).toThrow(RangeError);
    const parts = p.splitFlat(new Float32Array(p.parameters));
    expect(() => p.joinFlat(parts.slice(1))).toThrow(/2 tasks/);
    expect(() => p.joinFlat([parts[0]!, parts[1]!.slice(1)])).toThrow(/Task 1 holds/);
    expect(() => p.joinFlat([parts[0]!.map((v) => v.subarray(1)), parts[1]!])).toThrow(/elements/);
  });
});

describe('mapping a flat range to slices', () => {
  const p = Placement.of([spec('w', 10, 4), spec('b', 4)], { tasks: 3, partitionBytes: 16 });
  // w: partitions of 4, 3, 3 rows (16, 12, 12 elements) at flat 0, 16, 28; b: 4 elements at 40.
  const view = (pieces: ReturnType<Placement['piecesOf']>) => pieces.map((x) => [x.slice.name, x.start, x.length, x.flatOffset]);

  it('names the slices a range falls in, with offsets within each', () => {
    expect(view(p.piecesOf(10, 42))).toEqual([
      ['w/part_0', 10, 6, 10],
      ['w/part_1', 0, 12, 16],
      ['w/part_2', 0, 12, 28],
      ['b', 0, 2, 40],
    ]);
    expect(view(p.piecesOf(17, 20))).toEqual([['w/part_1', 1, 3, 17]]);
    expect(view(p.piecesOf(16, 16))).toEqual([]);
    expect(view(p.piecesOf(0, p.parameters)).map((x) => x[0])).toEqual(p.slices.map((s) => s.name));
  });

  it("covers one tensor's range with exactly its slices", () => {
    const first = p.slicesOf(0)[0]!;
    const pieces = p.piecesOf(first.flatOffset, first.flatOffset + 40);
    expect(pieces.map((x) => x.slice)).toEqual(p.slicesOf(0));
    expect(pieces.every((x: { slice: PlacedSlice; start: number; length: number }) => x.start === 0 && x.length === x.slice.length)).toBe(true);
  });

  it('skips empty slices and refuses a range outside the vector', () => {
    const q = Placement.of([spec('a', 2), spec('empty', 0), spec('b', 2)], { tasks: 2 });
    expect(q.piecesOf(0, 4).map((x) => x.slice.name)).toEqual(['a', 'b']);
    expect(() => p.piecesOf(-1, 3)).toThrow(RangeError);
    expect(() => p.piecesOf(5, 4)).toThrow(RangeError);
    expect(() => p.piecesOf(0, p.parameters + 1)).toThrow(RangeError);
    expect(() => p.piecesOf(0.5, 3)).toThrow(RangeError);
  });

  it('serialises to plain data that says the same', () => {
    const json = JSON.parse(JSON.stringify(p)) as ReturnType<Placement['toJSON']>;
    expect(json).toEqual({ tasks: 3, partitionBytes: 16, bytesPerTask: [...p.bytesPerTask], slices: p.slices.map((s) => ({ ...s })) });
  });
});

/**
 * Which ps task holds which parameters: TensorFlow's `replica_device_setter` with
 * `GreedyLoadBalancingStrategy(num_tasks, byte_size_load_fn)`, and its partitioned
 * variables. Each tensor, in the model's order, goes whole to the task holding the
 * fewest bytes so far (ties: the lowest task index). A tensor above `partitionBytes`
 * is first split by rows (its first dimension) into contiguous partitions, as
 * `min_max_variable_partitioner` does: min(tasks, rows, ceil(bytes / partitionBytes))
 * of them, their row counts within one of each other (the first `rows mod k` get the
 * extra row), named `<tensor>/part_<k>`; each partition is then placed like a tensor.
 *
 * Order: the model's tensor order, as TensorFlow places variables in creation order
 * (largest-first would balance a little better, but placement would then move when a
 * small tensor is added, and TensorFlow's own reasoning about placements would no
 * longer apply; partitioning already bounds what one large tensor can unbalance).
 *
 * Pure arithmetic on shapes, no Node or DOM APIs: workers will compute or receive the
 * same value. docs/cluster.md has worked examples.
 */
import { MAX_PS_TASKS } from './cluster-spec.js';
import { sizeOf, type TensorSpec } from './tensors.js';

/** Parameters are float32. */
export const BYTES_PER_PARAMETER = 4;
/** Tensors larger than this are partitioned by rows (TensorFlow's min_slice_size is 256 KiB; ours is a job field later). */
export const DEFAULT_PARTITION_BYTES = 1 << 20;

export interface PlacementOptions {
  /** ps tasks to spread the parameters over, 1..MAX_PS_TASKS. */
  tasks: number;
  /** A tensor of more bytes than this is split by rows. Default DEFAULT_PARTITION_BYTES (1 MiB). */
  partitionBytes?: number;
}

/** A tensor, or one row partition of it, and the task that holds it. */
export interface PlacedSlice {
  /** The tensor's name, or `<tensor>/part_<k>` for a partition (TensorFlow's naming). */
  name: string;
  /** The tensor's index in the model's order. */
  tensor: number;
  /** This partition's index, and how many the tensor has (1: it is whole). */
  partition: number;
  partitions: number;
  /** Rows [rowStart, rowEnd) of the tensor's first dimension (a scalar is one row). */
  rowStart: number;
  rowEnd: number;
  /** [rowEnd − rowStart, …the tensor's other dimensions]; the tensor's own shape when whole. */
  shape: number[];
  /** First element in the flat (row-major) tensor: rows are contiguous, so a slice is one range. */
  offset: number;
  /** First element in the flat parameter vector (every tensor in model order). */
  flatOffset: number;
  /** Elements. */
  length: number;
  bytes: number;
  task: number;
}

/** The part of one slice that a flat range covers. */
export interface SlicePiece {
  slice: PlacedSlice;
  /** First element of the piece within the slice. */
  start: number;
  length: number;
  /** First element of the piece in the flat parameter vector. */
  flatOffset: number;
}

/** The wire form of a placement (assignments and the job API will carry it). */
export interface PlacementJson {
  tasks: number;
  partitionBytes: number;
  bytesPerTask: number[];
  slices: PlacedSlice[];
}

export class Placement {
  /** Every slice, in the model's tensor order and each tensor's partition order: they tile the flat vector. */
  readonly slices: readonly PlacedSlice[];
  /** Per task, its slices in the same order. */
  readonly byTask: readonly (readonly PlacedSlice[])[];
  readonly bytesPerTask: readonly number[];
  readonly parameters: number;

  private constructor(
    readonly tasks: number,
    readonly partitionBytes: number,
    slices: PlacedSlice[],
    bytesPerTask: number[],
  ) {
    this.slices = Object.freeze(slices.map((s) => Object.freeze({ ...s, shape: Object.freeze([...s.shape]) as number[] })));
    this.byTask = Object.freeze(
      Array.from({ length: tasks }, (_, t) => Object.freeze(this.slices.filter((s) => s.task === t))),
    );
    this.bytesPerTask = Object.freeze([...bytesPerTask]);
    const last = slices[slices.length - 1];
    this.parameters = last ? last.flatOffset + last.length : 0;
  }

  /** Places `specs` (the model's trainable tensors, in its order) over `options.tasks` tasks. */
  static of(specs: readonly TensorSpec[], options: PlacementOptions): Placement {
    const tasks = options.tasks;
    const partitionBytes = options.partitionBytes ?? DEFAULT_PARTITION_BYTES;
    if (!Number.isInteger(tasks) || tasks < 1 || tasks > MAX_PS_TASKS) throw new RangeError(`tasks must be an integer 1..${MAX_PS_TASKS}, got ${tasks}`);
    if (!(partitionBytes > 0) || !Number.isFinite(partitionBytes)) throw new RangeError(`partitionBytes must be positive, got ${partitionBytes}`);
    const loads = new Array<number>(tasks).fill(0);
    const slices: PlacedSlice[] = [];
    let flatOffset = 0;
    specs.forEach((spec, tensor) => {
      const rows = spec.shape.length === 0 ? 1 : spec.shape[0]!;
      const rowSize = spec.shape.length === 0 ? 1 : sizeOf(spec.shape.slice(1));
      const bytes = sizeOf(spec.shape) * BYTES_PER_PARAMETER;
      const partitions = partitionCount(bytes, rows, tasks, partitionBytes);
      const base = Math.floor(rows / partitions);
      const extra = rows % partitions;
      let rowStart = 0;
      for (let k = 0; k < partitions; k++) {
        const rowEnd = rowStart + base + (k < extra ? 1 : 0);
        const length = (rowEnd - rowStart) * rowSize;
        const task = leastLoaded(loads);
        loads[task]! += length * BYTES_PER_PARAMETER;
        slices.push({
          name: partitions === 1 ? spec.name : `${spec.name}/part_${k}`,
          tensor,
          partition: k,
          partitions,
          rowStart,
          rowEnd,
          shape: partitions === 1 ? [...spec.shape] : [rowEnd - rowStart, ...spec.shape.slice(1)],
          offset: rowStart * rowSize,
          flatOffset,
          length,
          bytes: length * BYTES_PER_PARAMETER,
          task,
        });
        flatOffset += length;
        rowStart = rowEnd;
      }
    });
    return new Placement(tasks, partitionBytes, slices, loads);
  }

  /** The slices of tensor `tensor`, in row order. */
  slicesOf(tensor: number): PlacedSlice[] {
    return this.slices.filter((s) => s.tensor === tensor);
  }

  /** Name and shape of each of task `task`'s slices: what its ParameterStore holds. */
  specsOf(task: number): TensorSpec[] {
    return (this.byTask[task] ?? []).map((s) => ({ name: s.name, shape: [...s.shape] }));
  }

  /**
   * The pieces of slices that elements [flatStart, flatEnd) of the flat parameter
   * vector fall in, in order (a tensor's range: its first slice's flatOffset plus the
   * offsets within it). What a codec needs to encode or decode one task's part.
   */
  piecesOf(flatStart: number, flatEnd: number): SlicePiece[] {
    if (!(Number.isInteger(flatStart) && Number.isInteger(flatEnd) && flatStart >= 0 && flatStart <= flatEnd && flatEnd <= this.parameters)) {
      throw new RangeError(`[${flatStart}, ${flatEnd}) is not a range of the ${this.parameters} parameters`);
    }
    const pieces: SlicePiece[] = [];
    for (let i = this.firstSliceEndingAfter(flatStart); i < this.slices.length && flatStart < flatEnd; i++) {
      const slice = this.slices[i]!;
      const end = Math.min(flatEnd, slice.flatOffset + slice.length);
      if (end > flatStart) pieces.push({ slice, start: flatStart - slice.flatOffset, length: end - flatStart, flatOffset: flatStart });
      flatStart = end;
    }
    return pieces;
  }

  /** Per task, views (no copies) of its slices in the flat parameter vector `flat`. */
  splitFlat(flat: Float32Array): Float32Array[][] {
    if (flat.length !== this.parameters) throw new RangeError(`Expected ${this.parameters} parameters, got ${flat.length}`);
    return this.byTask.map((slices) => slices.map((s) => flat.subarray(s.flatOffset, s.flatOffset + s.length)));
  }

  /** Per task, views (no copies) of its slices in the model's per-tensor arrays. */
  splitTensors(tensors: readonly Float32Array[]): Float32Array[][] {
    return this.byTask.map((slices) =>
      slices.map((s) => {
        const values = tensors[s.tensor];
        if (!values || values.length < s.offset + s.length) throw new RangeError(`Tensor ${s.tensor} is too short for slice ${s.name}`);
        return values.subarray(s.offset, s.offset + s.length);
      }),
    );
  }

  /** The flat parameter vector from each task's slices (the inverse of splitFlat). */
  joinFlat(perTask: readonly (readonly Float32Array[])[], out = new Float32Array(this.parameters)): Float32Array {
    this.eachPart(perTask, (s, values) => out.set(values, s.flatOffset));
    return out;
  }

  /** The model's per-tensor arrays from each task's slices (the inverse of splitTensors). */
  joinTensors(perTask: readonly (readonly Float32Array[])[], sizes: readonly number[]): Float32Array[] {
    const out = sizes.map((n) => new Float32Array(n));
    this.eachPart(perTask, (s, values) => out[s.tensor]!.set(values, s.offset));
    return out;
  }

  toJSON(): PlacementJson {
    return { tasks: this.tasks, partitionBytes: this.partitionBytes, bytesPerTask: [...this.bytesPerTask], slices: this.slices.map((s) => ({ ...s, shape: [...s.shape] })) };
  }

  private eachPart(perTask: readonly (readonly Float32Array[])[], write: (s: PlacedSlice, values: Float32Array) => void): void {
    if (perTask.length !== this.tasks) throw new RangeError(`Expected parts from ${this.tasks} tasks, got ${perTask.length}`);
    this.byTask.forEach((slices, t) => {
      const parts = perTask[t]!;
      if (parts.length !== slices.length) throw new RangeError(`Task ${t} holds ${slices.length} slices, got ${parts.length}`);
      slices.forEach((s, i) => {
        if (parts[i]!.length !== s.length) throw new RangeError(`Slice ${s.name} has ${s.length} elements, got ${parts[i]!.length}`);
        write(s, parts[i]!);
      });
    });
  }

  /** Binary search: the first slice whose range ends after `flat` (empty slices end where they start). */
  private firstSliceEndingAfter(flat: number): number {
    let lo = 0;
    let hi = this.slices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.slices[mid]!;
      if (s.flatOffset + s.length <= flat) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** How many row partitions a tensor of `bytes` and `rows` rows gets: min(tasks, rows, ceil(bytes / partitionBytes)), at least 1. */
export function partitionCount(bytes: number, rows: number, tasks: number, partitionBytes: number): number {
  if (bytes <= partitionBytes || rows <= 1) return 1;
  return Math.max(1, Math.min(tasks, rows, Math.ceil(bytes / partitionBytes)));
}

/** TensorFlow's GreedyLoadBalancingStrategy: the least load, the lowest index among equals. */
function leastLoaded(loads: readonly number[]): number {
  let best = 0;
  for (let t = 1; t < loads.length; t++) if (loads[t]! < loads[best]!) best = t;
  return best;
}

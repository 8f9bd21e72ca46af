/** Names and shapes of a model's trainable tensors, in the order the model holds them. */
export interface TensorSpec {
  name: string;
  shape: number[];
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function totalSize(specs: readonly TensorSpec[]): number {
  let n = 0;
  for (const s of specs) n += sizeOf(s.shape);
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

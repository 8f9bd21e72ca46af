/**
 * Reads consecutive float32 arrays out of a file's payload. The payload sits at any byte
 * offset of the file's buffer and Float32Array needs 4-byte alignment, so it is copied
 * once into a buffer of its own; every array after is a view of that copy.
 */
export function floatReader(payload: Uint8Array): (count: number) => Float32Array {
  const aligned = new Uint8Array(payload).buffer;
  let offset = 0;
  return (count) => {
    const a = new Float32Array(aligned, offset, count);
    offset += count * 4;
    return a;
  };
}

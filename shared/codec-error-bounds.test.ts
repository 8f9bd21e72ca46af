/**
 * Every codec in the registry against the error bound it states (TensorCodec.errorBound):
 * what decodes must be what the codec promises, not merely laid out right. The list is
 * CODEC_IDS built through createCodec, so a new codec is held to its bound the day it
 * is registered, and a codec that states none fails here.
 */
import { describe, expect, it } from 'vitest';
import { CODEC_IDS, createCodec, decodeTensors, encodeTensors, type NamedValues, type TensorCodec } from './codec.js';
import { INT8_BLOCK } from './codecs/int8.js';
import { seededRandom } from './seeded-random.js';

const FLT_MAX = 3.4028234663852886e38;
const r = seededRandom(2024);
const tensor = (name: string, values: number[] | Float32Array): NamedValues => ({ name, shape: [values.length], values: Float32Array.from(values) });
const signed = () => (r() < 0.5 ? -1 : 1);

/** Values that reach each clause of the stated bounds. */
const SAMPLES: NamedValues[] = [
  // fp16's subnormals and clamp, top-k's thresholds over many magnitudes.
  tensor('wide range', Array.from({ length: 2000 }, () => signed() * 2 ** (r() * 60 - 40))),
  // int8 blocks of very different scales, with a short last block.
  tensor('blocks', Array.from({ length: 3 * INT8_BLOCK + 77 }, (_, i) => signed() * r() * 10 ** ((Math.floor(i / INT8_BLOCK) % 4) * 3 - 6))),
  // top-k's ties at the threshold (lowest indices first), zeros everywhere else.
  tensor('ties and zeros', Array.from({ length: 300 }, () => (r() < 0.5 ? 0 : signed() * Math.ceil(r() * 3)))),
  // ±FLT_MAX, where topk-packed truncates rather than round up to ±∞.
  tensor('FLT_MAX', [FLT_MAX, -FLT_MAX, 1]),
  // The rest of the top binade and float32 subnormals.
  tensor('extremes', [-FLT_MAX * 0.75, 3e38, 1e-45, -3e-40, 1.5e-39, 1, -2, 0.1]),
  tensor('one', [-0.3]),
  tensor('mlp kernel', Array.from({ length: 784 * 128 }, () => (r() - 0.5) * 0.02)),
];

/**
 * Known breaches, each named with its reason. The suite skips them and checks that they
 * still fail, so the entry goes when the codec is fixed.
 */
const KNOWN_BREACHES: Partial<Record<string, { sample: string; why: string }>> = {};

/** Entries whose decoded value lies outside the codec's stated bound (the first few, described). */
function outOfBound(codec: TensorCodec, values: Float32Array, decoded: Float32Array): string[] {
  const { reference, tolerance } = codec.errorBound(values);
  const out: string[] = [];
  for (let i = 0; i < values.length && out.length < 5; i++) {
    const error = Math.abs(decoded[i]! - reference[i]!);
    if (!(error <= tolerance[i]!)) out.push(`[${i}] ${values[i]} → ${decoded[i]}, expected ${reference[i]} ± ${tolerance[i]}`);
  }
  return out;
}

/** The codec with its decoder replaced by one that writes zeros: a broken codec the suite must catch. */
const decodingZeros = (codec: TensorCodec): TensorCodec => ({ ...codec, readInto: (_entry, _bytes, out) => (out.fill(0), null) });

function roundTrip(codec: TensorCodec): Float32Array[] {
  return decodeTensors(encodeTensors(SAMPLES, codec), SAMPLES, codec);
}

describe('every codec keeps its stated error bound', () => {
  for (const id of CODEC_IDS) {
    const codec = createCodec(id, { topkRatio: 0.1 });

    it(`${id} states an error bound`, () => {
      expect(typeof codec.errorBound, `${id} has no errorBound`).toBe('function');
      for (const t of SAMPLES) {
        const { reference, tolerance } = codec.errorBound(t.values);
        expect([reference.length, tolerance.length]).toEqual([t.values.length, t.values.length]);
        expect(tolerance.every((x) => x >= 0 && Number.isFinite(x)), `${id} ${t.name}: tolerances finite and ≥ 0`).toBe(true);
      }
    });

    const breach = KNOWN_BREACHES[id];
    it(`${id} decodes every sample within it`, () => {
      const decoded = roundTrip(codec);
      SAMPLES.forEach((t, k) => {
        if (t.name !== breach?.sample) expect(outOfBound(codec, t.values, decoded[k]!), `${id} ${t.name}`).toEqual([]);
      });
    });

    if (breach) {
      it(`${id}: known breach, still open: ${breach.why}`, () => {
        const k = SAMPLES.findIndex((t) => t.name === breach.sample);
        expect(outOfBound(codec, SAMPLES[k]!.values, roundTrip(codec)[k]!), 'fixed? then remove it from KNOWN_BREACHES').not.toEqual([]);
      });
    }

    it(`${id}: a decoder that writes zeros breaks it (the bound is not vacuous)`, () => {
      const broken = decodingZeros(codec);
      const decoded = roundTrip(broken);
      SAMPLES.forEach((t, k) => expect(outOfBound(codec, t.values, decoded[k]!).length, `${id} ${t.name}`).toBeGreaterThan(0));
    });
  }
});

/**
 * Reading one layer's config out of an uploaded tfjs Layers topology, before tfjs
 * builds anything: keys in the snake_case tfjs writes (tfjs also reads camelCase, so
 * both are looked up), every size a positive integer, every option one tfjs knows.
 * A value that is missing or wrong is refused with the layer and the key named.
 */
import { ErrorCode } from '../../../shared/errors.js';

/** A tensor's shape without the batch dimension; null where the topology leaves it open. */
export type Shape = (number | null)[];

/** A topology refused before it is built, with the code the operator gets. */
export class TopologyRefusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TopologyRefusal';
  }
}

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** A size read from a config: a positive integer small enough to multiply safely. */
const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

export class LayerConfig {
  constructor(
    readonly className: string,
    readonly name: string,
    private readonly raw: Json,
  ) {}

  refuse(what: string): never {
    throw new TopologyRefusal(ErrorCode.BAD_REQUEST, `layer "${this.name}" (${this.className}): ${what}`);
  }

  get(key: string): unknown {
    return this.raw[key] ?? this.raw[camel(key)] ?? undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined && this.get(key) !== null;
  }

  size(key: string, fallback?: number): number {
    const v = this.get(key) ?? fallback;
    if (!isSize(v)) this.refuse(`${key} must be a positive integer, got ${JSON.stringify(v)?.slice(0, 40)}`);
    return v;
  }

  /** An integer, or one per spatial dimension (`kernel_size: 3` or `[3, 3]`). */
  sizes(key: string, rank: number, fallback?: number): number[] {
    const v = this.get(key) ?? fallback;
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 1 && rank > 1) return this.sizes(key, 1, fallback).flatMap((n) => Array<number>(rank).fill(n));
    if (list.length !== rank || !list.every(isSize)) this.refuse(`${key} must be a positive integer or ${rank} of them, got ${JSON.stringify(v)?.slice(0, 40)}`);
    return list as number[];
  }

  choice<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const v = this.get(key) ?? fallback;
    if (!allowed.includes(v as T)) this.refuse(`${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)?.slice(0, 40)}`);
    return v as T;
  }

  flag(key: string, fallback: boolean): boolean {
    const v = this.get(key) ?? fallback;
    if (typeof v !== 'boolean') this.refuse(`${key} must be true or false`);
    return v;
  }

  /** A declared input shape (`batch_input_shape` with its batch entry, or `input_shape`), or null. */
  inputShape(): Shape | null {
    const batch = this.get('batch_input_shape');
    const plain = this.get('input_shape');
    const shape = Array.isArray(batch) ? batch.slice(1) : Array.isArray(plain) ? plain : null;
    if (!shape) return null;
    if (!shape.every((d) => d === null || isSize(d))) this.refuse(`its input shape ${JSON.stringify(shape).slice(0, 60)} must hold positive integers or null`);
    return shape as Shape;
  }

  /** The config of a wrapped layer (Bidirectional, TimeDistributed). */
  wrapped(): { className: string; config: LayerConfig } {
    const inner = this.get('layer');
    if (!isObject(inner) || typeof inner.class_name !== 'string' || !isObject(inner.config)) this.refuse('layer must be a {class_name, config} object');
    const name = typeof inner.config.name === 'string' ? inner.config.name : `${this.name}/inner`;
    return { className: inner.class_name, config: new LayerConfig(inner.class_name, name, inner.config) };
  }
}

/** Product of the known dimensions: the elements one example occupies (open ones count as 1). */
export function elements(shape: Shape): number {
  return shape.reduce<number>((n, d) => n * (d ?? 1), 1);
}

/**
 * Sizes an uploaded tfjs Layers topology from its JSON alone, before tfjs builds it:
 * tfjs allocates and initialises every weight while it builds, so a 200,000-unit Dense
 * layer used to freeze the coordinator for seconds and take gigabytes before the
 * parameter limit could refuse it. Here the JSON is bounded (size, nesting, layers,
 * layer calls), each layer's output shape and weights are worked out (layer-rules.ts)
 * through Sequential and functional graphs, and the parameter count and the largest
 * activation come back in microseconds. Anything over a bound or not understood is a
 * TopologyRefusal with its code.
 */
import { ErrorCode } from '../../../shared/errors.js';
import { elements, isObject, LayerConfig, TopologyRefusal, type Json, type Shape } from './layer-config.js';
import { LAYER_RULES, type LayerOutcome } from './layer-rules.js';

export const TOPOLOGY_LIMITS = {
  /** Bytes of the topology as JSON. */
  maxJsonBytes: 2 * 1024 * 1024,
  /** Nesting of the JSON: a tfjs topology is about 8 deep, wrappers add a few. */
  maxDepth: 32,
  /** Layers of the model (ResNet-50 has 177). */
  maxLayers: 256,
  /** Layer calls of a functional model (a shared layer is called more than once). */
  maxNodes: 1024,
  /** Values one example takes in any layer's output: bounds the forward and backward passes the coordinator runs itself. */
  maxActivation: 1 << 20,
};

export type TopologyLimits = typeof TOPOLOGY_LIMITS;

export interface TopologyCensus {
  layers: number;
  /** Every weight tfjs would allocate, trainable or not. */
  parameters: number;
  /** The most values one example takes in a layer's output. */
  largestActivation: number;
  /** Shapes of the model's outputs, without the batch dimension. */
  outputs: Shape[];
}

const refuse = (code: ErrorCode, message: string): never => {
  throw new TopologyRefusal(code, message);
};
const clip = (s: string) => (s.length > 60 ? `${s.slice(0, 60)}…` : s);

/** Depth first without recursion, so a hostile nesting cannot overflow the stack here either. */
function checkStructure(topology: unknown, limits: TopologyLimits): void {
  const stack: [unknown, number][] = [[topology, 1]];
  while (stack.length) {
    const [value, depth] = stack.pop()!;
    if (depth > limits.maxDepth) refuse(ErrorCode.BAD_REQUEST, `The topology is nested more than ${limits.maxDepth} levels deep`);
    for (const child of Object.values(value as object)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  const bytes = Buffer.byteLength(JSON.stringify(topology));
  if (bytes > limits.maxJsonBytes) refuse(ErrorCode.PAYLOAD_TOO_LARGE, `The topology is ${bytes} bytes of JSON; at most ${limits.maxJsonBytes}`);
}

class Census {
  layers = 0;
  parameters = 0;
  largestActivation = 0;
  outputs: Shape[] = [];

  constructor(private readonly limits: TopologyLimits) {}

  layerName(entry: Json, index: number): string {
    const config = isObject(entry.config) ? entry.config : {};
    return clip(typeof config.name === 'string' ? config.name : typeof entry.name === 'string' ? entry.name : `#${index}`);
  }

  config(entry: unknown, index: number): LayerConfig {
    if (!isObject(entry) || typeof entry.class_name !== 'string' || !isObject(entry.config)) refuse(ErrorCode.BAD_REQUEST, `Layer #${index} must be a {class_name, config} object`);
    const e = entry as Json & { class_name: string; config: Json };
    const cfg = new LayerConfig(clip(e.class_name), this.layerName(e, index), e.config);
    if (['Sequential', 'Model', 'Functional'].includes(cfg.className)) refuse(ErrorCode.UNSUPPORTED_LAYER, `layer "${cfg.name}": a model used as a layer is not supported; inline its layers`);
    if (!Object.hasOwn(LAYER_RULES, cfg.className)) {
      refuse(ErrorCode.UNSUPPORTED_LAYER, `layer "${cfg.name}": class ${cfg.className} is not supported (supported: ${Object.keys(LAYER_RULES).join(', ')})`);
    }
    return cfg;
  }

  apply(cfg: LayerConfig, inputs: Shape[], countWeights: boolean): LayerOutcome {
    const out = LAYER_RULES[cfg.className]!(inputs, cfg);
    if (countWeights) this.parameters += out.parameters;
    for (const shape of out.outputs) {
      const n = elements(shape);
      if (n > this.limits.maxActivation) refuse(ErrorCode.MODEL_TOO_LARGE, `layer "${cfg.name}" outputs ${n} values per example; at most ${this.limits.maxActivation}`);
      this.largestActivation = Math.max(this.largestActivation, n);
    }
    return out;
  }

  layerList(list: unknown): unknown[] {
    if (!Array.isArray(list) || list.length === 0) return refuse(ErrorCode.BAD_REQUEST, 'The topology has no layers');
    if (list.length > this.limits.maxLayers) refuse(ErrorCode.MODEL_TOO_LARGE, `The topology has ${list.length} layers; at most ${this.limits.maxLayers}`);
    this.layers = list.length;
    return list;
  }

  sequential(list: unknown): void {
    const layers = this.layerList(list).map((l, i) => this.config(l, i));
    const first = layers[0]!;
    let shape: Shape;
    let from = 0;
    if (first.className === 'InputLayer') {
      shape = this.apply(first, [], true).outputs[0]!;
      from = 1;
    } else {
      const declared = first.inputShape() ?? (first.has('input_dim') && first.className === 'Dense' ? [first.size('input_dim')] : null) ?? (first.has('input_length') ? [first.size('input_length')] : null);
      if (!declared) return refuse(ErrorCode.BAD_REQUEST, `The first layer ("${first.name}") needs batch_input_shape`);
      shape = declared;
    }
    for (const cfg of layers.slice(from)) {
      const out = this.apply(cfg, [shape], true);
      if (out.outputs.length !== 1) cfg.refuse('every layer of a Sequential model must have one output');
      shape = out.outputs[0]!;
    }
    this.outputs = [shape];
  }

  /** Resolves every layer call once its inputs are known; a call whose inputs never appear is refused. */
  functional(config: Json): void {
    const layers = this.layerList(config.layers);
    const calls: { layer: string; cfg: LayerConfig; node: number; refs: [string, number, number][] }[] = [];
    const names = new Set<string>();
    layers.forEach((entry, i) => {
      const cfg = this.config(entry, i);
      const layer = (entry as Json).name;
      if (typeof layer !== 'string' || names.has(layer)) return refuse(ErrorCode.BAD_REQUEST, `Layer #${i} needs a name of its own`);
      names.add(layer);
      const nodes = (entry as Json).inbound_nodes;
      if (!Array.isArray(nodes)) return refuse(ErrorCode.BAD_REQUEST, `layer "${cfg.name}": inbound_nodes must be a list`);
      if (cfg.className === 'InputLayer') return void calls.push({ layer, cfg, node: 0, refs: [] });
      nodes.forEach((node, k) => {
        const ok = Array.isArray(node) && node.length > 0 && node.every((r) => Array.isArray(r) && typeof r[0] === 'string' && Number.isSafeInteger(r[1]) && Number.isSafeInteger(r[2]));
        if (!ok) refuse(ErrorCode.BAD_REQUEST, `layer "${cfg.name}": inbound node ${k} must be a list of [layer, node, tensor] entries`);
        calls.push({ layer, cfg, node: k, refs: (node as [string, number, number][]).map((r) => [r[0], r[1], r[2]]) });
      });
    });
    if (calls.length > this.limits.maxNodes) refuse(ErrorCode.MODEL_TOO_LARGE, `The topology calls its layers ${calls.length} times; at most ${this.limits.maxNodes}`);

    const key = (layer: string, node: number) => `${layer}\u0000${node}`;
    const outputs = new Map<string, Shape[]>();
    // A shared layer's weights are made once, at its first call.
    const counted = new Set<string>();
    let pending = calls;
    while (pending.length) {
      const waiting = pending.filter((c) => {
        const inputs = c.refs.map(([l, n, t]) => outputs.get(key(l, n))?.[t]);
        if (inputs.some((s) => s === undefined)) return true;
        outputs.set(key(c.layer, c.node), this.apply(c.cfg, inputs as Shape[], !counted.has(c.layer)).outputs);
        counted.add(c.layer);
        return false;
      });
      if (waiting.length === pending.length) {
        const stuck = waiting[0]!;
        refuse(ErrorCode.BAD_REQUEST, `layer "${stuck.cfg.name}": its inputs (${stuck.refs.map((r) => clip(r[0])).join(', ')}) are never produced`);
      }
      pending = waiting;
    }
    const ends = config.output_layers;
    const produced = (r: unknown) => (Array.isArray(r) ? outputs.get(key(String(r[0]), Number(r[1])))?.[Number(r[2])] : undefined);
    if (!Array.isArray(ends) || ends.length === 0 || !ends.every(produced)) refuse(ErrorCode.BAD_REQUEST, "output_layers must name outputs of the model's layers");
    this.outputs = (ends as unknown[]).map((r) => produced(r)!);
  }
}

export function censusOf(topology: unknown, limits: TopologyLimits = TOPOLOGY_LIMITS): TopologyCensus {
  if (!isObject(topology)) return refuse(ErrorCode.BAD_REQUEST, 'The topology must be a JSON object (model.toJSON())');
  checkStructure(topology, limits);
  // Keras's saved JSON wraps the model in model_config; tfjs reads either.
  const model = isObject(topology.model_config) ? topology.model_config : topology;
  const census = new Census(limits);
  if (model.class_name === 'Sequential') census.sequential(Array.isArray(model.config) ? model.config : isObject(model.config) ? model.config.layers : undefined);
  else if (model.class_name === 'Model' || model.class_name === 'Functional') census.functional(isObject(model.config) ? model.config : {});
  else refuse(ErrorCode.BAD_REQUEST, `The topology's class_name must be Sequential, Model or Functional, got ${clip(JSON.stringify(model.class_name) ?? 'nothing')}`);
  return { layers: census.layers, parameters: census.parameters, largestActivation: census.largestActivation, outputs: census.outputs };
}

/**
 * Conv2DBackpropFilter for tfjs's wasm backend, which (4.22) ships the forward
 * convolution and the input gradient but not the filter gradient, so a CNN cannot
 * train on wasm without it. Plain JS over the wasm heap: the innermost loop runs over
 * output channels, contiguous in both dy and dW for NHWC.
 */
import { backend_util, Conv2DBackpropFilter, registerKernel, getKernel, util } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

function conv2DBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: unknown; attrs: unknown }): TensorInfo {
  const { x, dy } = args.inputs;
  const backend = args.backend as WasmBackendLike;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as Conv2DBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const channelsLast = info.dataFormat === 'channelsLast';
  const [xS0, xS1, xS2] = util.computeStrides(x.shape);
  const [yS0, yS1, yS2] = util.computeStrides(dy.shape);
  // Element strides for (row, col, channel) in either layout.
  const xRow = channelsLast ? xS1! : xS2!;
  const xCol = channelsLast ? xS2! : 1;
  const xCh = channelsLast ? 1 : xS1!;
  const yRow = channelsLast ? yS1! : yS2!;
  const yCol = channelsLast ? yS2! : 1;
  const yCh = channelsLast ? 1 : yS1!;

  const out = backend.makeOutput(info.filterShape, 'float32');
  // Views taken after makeOutput: allocating may grow (and move) the wasm heap.
  const xv = backend.typedArrayFromHeap(x);
  const dyv = backend.typedArrayFromHeap(dy);
  const dw = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  const wRowStride = filterWidth * inChannels * outChannels;
  const wColStride = inChannels * outChannels;

  for (let b = 0; b < batchSize; b++) {
    for (let yR = 0; yR < outHeight; yR++) {
      for (let yC = 0; yC < outWidth; yC++) {
        const dyBase = b * yS0! + yR * yRow + yC * yCol;
        for (let wR = 0; wR < filterHeight; wR++) {
          const xR = yR * strideHeight + wR - top;
          if (xR < 0 || xR >= inHeight) continue;
          for (let wC = 0; wC < filterWidth; wC++) {
            const xC = yC * strideWidth + wC - left;
            if (xC < 0 || xC >= inWidth) continue;
            const xBase = b * xS0! + xR * xRow + xC * xCol;
            const wBase = wR * wRowStride + wC * wColStride;
            for (let d1 = 0; d1 < inChannels; d1++) {
              const xval = xv[xBase + d1 * xCh]!;
              if (xval === 0) continue;
              const wb = wBase + d1 * outChannels;
              for (let d2 = 0; d2 < outChannels; d2++) dw[wb + d2] += xval * dyv[dyBase + d2 * yCh]!;
            }
          }
        }
      }
    }
  }
  backend.typedArrayFromHeap(out).set(dw);
  return out;
}

export const wasmConv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelConfig['kernelFunc'],
};

/** Registers the kernel unless a future tfjs already provides one. */
export function registerWasmGradientKernels(): void {
  if (!getKernel(Conv2DBackpropFilter, 'wasm')) registerKernel(wasmConv2DBackpropFilterConfig);
}

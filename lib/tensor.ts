/**
 * Tensors shared with the native side without copying. A TypedArray passed in is borrowed:
 * do not mutate or transfer it until the call that uses it settles.
 */
import { native, type DType, type NativeTensor, type TypedArrayOf } from './native.js';

export type { DType, NativeTensor as Tensor, TypedArrayOf };

export interface TensorOptions {
  /** Dimensions; their product must equal the array's length. Default: one dimension. */
  shape?: number[];
  /** Needed only for Uint16Array data: 'bfloat16' (default) or 'float16'. */
  dtype?: DType;
}

/** A tensor over the array's memory (zero-copy). */
export function tensor(data: TypedArrayOf, options: TensorOptions = {}): NativeTensor {
  return native().Tensor.fromTypedArray(data, options);
}

/** Live native objects of the bridge (for leak checks). */
export function bridgeStats(): { borrowed: number; exported: number; wrapped: number } {
  return native().Tensor.bridgeStats();
}

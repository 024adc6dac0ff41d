// ragged_mean_pool: the mean of each sequence of a ragged batch.
//   values [N, D] (float32/float64/float16/bfloat16), offsets [B+1] -> out [B, D]
// An empty sequence pools to zeros and passes no gradient. Accumulates in fp32 (fp64 for
// float64). CPU and CUDA behind one dispatch; ragged_mean_pool() is differentiable.
#pragma once
#include <ATen/core/Tensor.h>

namespace lemur::ops {

at::Tensor ragged_mean_pool(const at::Tensor& values, const at::Tensor& offsets);

// The dispatching forward and backward (no autograd), used by the autograd wrapper.
at::Tensor ragged_mean_pool_forward(const at::Tensor& values, const at::Tensor& offsets);
at::Tensor ragged_mean_pool_backward(const at::Tensor& grad_out, const at::Tensor& offsets,
                                     int64_t total);

namespace cpu {
at::Tensor ragged_mean_pool_forward_kernel(const at::Tensor& values, const at::Tensor& offsets);
at::Tensor ragged_mean_pool_backward_kernel(const at::Tensor& grad_out, const at::Tensor& offsets,
                                            int64_t total);
}  // namespace cpu

}  // namespace lemur::ops

// gelu: 0.5 x (1 + erf(x / sqrt 2)), the exact GELU (at::gelu's default, no tanh
// approximation), differentiable in x.
// On CPU float32 with AVX-512F it is one 16-lane pass forward and one backward, with erf
// computed as ATen's vectorized CPU kernel computes it (Abramowitz-Stegun 7.1.26, |error| <=
// 1.5e-7) and exp from a short polynomial instead of Sleef's. LibTorch 1.13 runs the forward
// on oneDNN's JIT eltwise GELU and the backward on its AVX2 kernel; at a million elements,
// one thread: forward 0.29 vs 0.42 ms, backward 0.35 vs 0.77 ms. An AVX2 version of this
// pass lost to oneDNN's forward, so without AVX-512 (and on CUDA, for other dtypes) it is
// at::gelu.
#pragma once
#include <ATen/core/Tensor.h>

namespace lemur::ops {

at::Tensor gelu(const at::Tensor& x);

namespace cpu {
// Whether the fused kernels run on this CPU (AVX-512F).
bool gelu_fused();
// x contiguous float32 -> gelu(x).
at::Tensor gelu_forward_kernel(const at::Tensor& x);
// grad and x contiguous float32 of one shape -> grad * gelu'(x).
at::Tensor gelu_backward_kernel(const at::Tensor& grad, const at::Tensor& x);
}  // namespace cpu

}  // namespace lemur::ops

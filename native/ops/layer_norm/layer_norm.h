// layer_norm: y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension of x
// (x [..., N], weight and bias [N]), as at::layer_norm with an elementwise affine,
// differentiable in x, weight and bias.
// On CPU float32 with N a multiple of 8 (every width here) and AVX2 it is one fused pass per
// row forward (mean and variance from the row held in cache, then the affine output) and one
// backward, with the weight and bias gradients summed in fixed row chunks (the same result at
// any thread count). LibTorch 1.13's kernel runs about 0.7 elements per ns on rows of 64
// (a Welford pass and a map per row); this one several times that. Elsewhere at::layer_norm.
#pragma once
#include <ATen/core/Tensor.h>

#include <tuple>

namespace lemur::ops {

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

namespace cpu {
// Whether the fused kernels take rows of width n (AVX2 present, n % 8 == 0).
bool layer_norm_fused(int64_t n);
// x2 [M, N] contiguous float32 -> (y [M, N], mean [M], rstd [M]).
std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_forward_kernel(const at::Tensor& x2, const at::Tensor& weight,
                                                                          const at::Tensor& bias, double eps);
// -> (dx [M, N], dweight [N], dbias [N]).
std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_backward_kernel(const at::Tensor& grad2, const at::Tensor& x2,
                                                                           const at::Tensor& weight,
                                                                           const at::Tensor& mean,
                                                                           const at::Tensor& rstd);
}  // namespace cpu

}  // namespace lemur::ops

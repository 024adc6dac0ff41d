// token_linear: a linear layer per token, y[b, t] = x[b, t] W[t] + bias[t], as
// einsum("btc,tcd->btd", x, W) + bias (x [B, T, C], weight [T, C, D], bias [T, D] or
// undefined), differentiable in x, weight and bias. RankMixer's tokenizer and per-token FFNs
// and the per-head projections of bank attention are this product.
// On CPU float32 (where linear() takes oneDNN) each token's product is one oneDNN sgemm read
// and written in place at the token's stride: no permuted copies of x, y or the gradients
// (einsum's bmm needs [T, B, C] and goes to the system BLAS). The weight may be a transposed
// view ([T, D, C] storage read as [T, C, D]). Elsewhere it is the einsum.
#pragma once
#include <ATen/core/Tensor.h>

namespace lemur::ops {

at::Tensor token_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

namespace cpu {
// x [B, T, C] contiguous; weight [T, C, D] with unit stride in D or in C (token_linear_layout).
bool token_linear_layout(const at::Tensor& weight);
at::Tensor token_linear_forward_kernel(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);
at::Tensor token_linear_grad_input_kernel(const at::Tensor& grad, const at::Tensor& weight);  // -> [B, T, C]
at::Tensor token_linear_grad_weight_kernel(const at::Tensor& grad, const at::Tensor& x);      // -> [T, C, D]
}  // namespace cpu

}  // namespace lemur::ops

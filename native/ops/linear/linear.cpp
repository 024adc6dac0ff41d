#include "ops/linear/linear.h"

#include <ATen/ATen.h>

namespace lemur::ops {

namespace {
bool takes_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return onednn_gemm_enabled() && x.device().is_cpu() && x.scalar_type() == at::kFloat && weight.device().is_cpu() &&
         weight.scalar_type() == at::kFloat && weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1) &&
         (!bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == at::kFloat && bias.dim() == 1 &&
                              bias.size(0) == weight.size(0)));
}
}  // namespace

// in linear_autograd.cpp: the oneDNN forward with its backward.
at::Tensor linear_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!takes_onednn(x, weight, bias)) return at::linear(x, weight, bias);
  return linear_onednn(x, weight, bias);
}

}  // namespace lemur::ops

#include "ops/linear/token_linear.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/linear/linear.h"

namespace lemur::ops {

// in token_linear_autograd.cpp: the oneDNN forward with its backward.
at::Tensor token_linear_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

at::Tensor token_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (x.dim() != 3 || weight.dim() != 3 || x.size(1) != weight.size(0) || x.size(2) != weight.size(1) ||
      (bias.defined() && (bias.dim() != 2 || bias.size(0) != weight.size(0) || bias.size(1) != weight.size(2))))
    throw UserError("token_linear: expected x [B, T, C], weight [T, C, D] and bias [T, D], got x " +
                    c10::str(x.sizes()) + ", weight " + c10::str(weight.sizes()) +
                    (bias.defined() ? ", bias " + c10::str(bias.sizes()) : std::string(", no bias")));
  const bool cpu_f32 = x.device().is_cpu() && weight.device().is_cpu() && x.scalar_type() == at::kFloat &&
                       weight.scalar_type() == at::kFloat &&
                       (!bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == at::kFloat));
  if (cpu_f32 && onednn_gemm_enabled()) return token_linear_onednn(x, weight, bias);
  at::Tensor y = at::einsum("btc,tcd->btd", {x, weight});
  return bias.defined() ? y + bias : y;
}

}  // namespace lemur::ops

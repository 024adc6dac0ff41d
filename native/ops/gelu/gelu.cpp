#include "ops/gelu/gelu.h"

#include <ATen/ATen.h>

namespace lemur::ops {

// in gelu_autograd.cpp: the fused CPU forward with its backward.
at::Tensor gelu_fused_cpu(const at::Tensor& x);

at::Tensor gelu(const at::Tensor& x) {
  if (x.device().is_cpu() && x.scalar_type() == at::kFloat && cpu::gelu_fused()) return gelu_fused_cpu(x);
  return at::gelu(x);
}

}  // namespace lemur::ops

// Autograd for gelu's fused CPU path: saves x (as at::gelu does), the backward recomputes
// erf and the density from it.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/gelu/gelu.h"

namespace lemur::ops {
namespace {

class GeluFunction : public torch::autograd::Function<GeluFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    at::Tensor xc = x.contiguous();
    ctx->save_for_backward({xc});
    return cpu::gelu_forward_kernel(xc).view(x.sizes());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    at::Tensor g = grads[0].to(at::kFloat).contiguous();
    return {cpu::gelu_backward_kernel(g, x).view(x.sizes())};
  }
};

}  // namespace

at::Tensor gelu_fused_cpu(const at::Tensor& x) { return GeluFunction::apply(x); }

}  // namespace lemur::ops

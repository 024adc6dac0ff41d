// Autograd for layer_norm's fused CPU path: the backward kernel recomputes the normalized
// rows from x and the saved mean and 1/std.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/layer_norm/layer_norm.h"

namespace lemur::ops {
namespace {

class LayerNormFunction : public torch::autograd::Function<LayerNormFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, double eps) {
    const int64_t n = x.size(-1);
    at::Tensor x2 = x.reshape({-1, n}).contiguous();
    auto [y, mean, rstd] = cpu::layer_norm_forward_kernel(x2, weight.contiguous(), bias.contiguous(), eps);
    ctx->save_for_backward({x2, weight, mean, rstd});
    return y.view(x.sizes());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x2 = saved[0], &weight = saved[1], &mean = saved[2], &rstd = saved[3];
    at::Tensor g2 = grads[0].reshape({-1, x2.size(1)}).contiguous();
    auto [dx, dw, db] = cpu::layer_norm_backward_kernel(g2, x2, weight.contiguous(), mean, rstd);
    return {ctx->needs_input_grad(0) ? dx.view(grads[0].sizes()) : at::Tensor(),
            ctx->needs_input_grad(1) ? dw : at::Tensor(), ctx->needs_input_grad(2) ? db : at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor layer_norm_fused_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  return LayerNormFunction::apply(x, weight, bias, eps);
}

}  // namespace lemur::ops

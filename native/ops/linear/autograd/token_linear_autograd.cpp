// Autograd for token_linear's oneDNN path: d x[b, t] = d y[b, t] W[t]^T,
// d W[t] = x[:, t]^T d y[:, t], d bias = sum over b of d y (each only when needed).
#include <ATen/ATen.h>

#include "ops/linear/autograd/optional_bias_function.h"
#include "ops/linear/token_linear.h"

namespace lemur::ops {
namespace {

at::Tensor weight_for_kernel(const at::Tensor& w) { return cpu::token_linear_layout(w) ? w : w.contiguous(); }

struct TokenLinearOp {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    at::Tensor xc = x.contiguous(), w = weight_for_kernel(weight);
    ctx->save_for_backward({xc, w});
    return cpu::token_linear_forward_kernel(xc, w, bias.defined() ? bias.contiguous() : bias);
  }

  static std::array<at::Tensor, 3> backward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad,
                                            bool has_bias) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    at::Tensor g = grad.contiguous();
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = cpu::token_linear_grad_input_kernel(g, w);
    if (ctx->needs_input_grad(1)) dw = cpu::token_linear_grad_weight_kernel(g, x);
    if (has_bias && ctx->needs_input_grad(2)) db = g.sum(0);
    return {dx, dw, db};
  }
};

}  // namespace

at::Tensor token_linear_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return OptionalBiasFunction<TokenLinearOp>::apply(x, weight, bias);
}

}  // namespace lemur::ops

// Autograd for token_linear's oneDNN path: d x[b, t] = d y[b, t] W[t]^T,
// d W[t] = x[:, t]^T d y[:, t], d bias = sum over b of d y (each only when needed).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/linear/token_linear.h"

namespace lemur::ops {
namespace {

at::Tensor weight_for_kernel(const at::Tensor& w) { return cpu::token_linear_layout(w) ? w : w.contiguous(); }

// With and without a bias (as linear: an undefined tensor cannot be a custom Function's input).
class TokenLinearFunction : public torch::autograd::Function<TokenLinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    return forward_impl(ctx, x, weight, bias);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return backward_impl(ctx, grads, true);
  }

  static at::Tensor forward_impl(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& bias) {
    at::Tensor xc = x.contiguous(), w = weight_for_kernel(weight);
    ctx->save_for_backward({xc, w});
    return cpu::token_linear_forward_kernel(xc, w, bias.defined() ? bias.contiguous() : bias);
  }

  static torch::autograd::variable_list backward_impl(torch::autograd::AutogradContext* ctx,
                                                      torch::autograd::variable_list grads, bool has_bias) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    at::Tensor g = grads[0].contiguous();
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = cpu::token_linear_grad_input_kernel(g, w);
    if (ctx->needs_input_grad(1)) dw = cpu::token_linear_grad_weight_kernel(g, x);
    if (has_bias && ctx->needs_input_grad(2)) db = g.sum(0);
    if (!has_bias) return {dx, dw};
    return {dx, dw, db};
  }
};

class TokenLinearNoBiasFunction : public torch::autograd::Function<TokenLinearNoBiasFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    return TokenLinearFunction::forward_impl(ctx, x, weight, at::Tensor());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return TokenLinearFunction::backward_impl(ctx, grads, false);
  }
};

}  // namespace

at::Tensor token_linear_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return bias.defined() ? TokenLinearFunction::apply(x, weight, bias) : TokenLinearNoBiasFunction::apply(x, weight);
}

}  // namespace lemur::ops

// Autograd for linear's oneDNN path: d x = d y W, d W = d y^T x, d b = sum over rows of d y
// (each computed only when its input needs it).
#include <ATen/ATen.h>

#include "ops/linear/autograd/optional_bias_function.h"
#include "ops/linear/linear.h"

namespace lemur::ops {
namespace {

// x as rows [M, in] with unit stride in the last dimension (a view where the layout allows:
// the [CLS] rows of a batch of sequences are read in place).
at::Tensor rows_of(const at::Tensor& x) {
  at::Tensor x2 = x.dim() == 2 ? x : x.reshape({-1, x.size(-1)});
  if (x2.stride(1) != 1 || (x2.size(0) > 1 && x2.stride(0) < x2.size(1))) x2 = x2.contiguous();
  return x2;
}

std::vector<int64_t> out_shape(const at::Tensor& x, int64_t out) {
  std::vector<int64_t> s(x.sizes().begin(), x.sizes().end());
  s.back() = out;
  return s;
}

struct LinearOp {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    at::Tensor x2 = rows_of(x), w = weight.contiguous();
    at::Tensor y = cpu::linear_forward_kernel(x2, w, bias);
    ctx->save_for_backward({x2, w});
    ctx->saved_data["x_sizes"] = x.sizes().vec();
    return y.view(out_shape(x, w.size(0)));
  }

  static std::array<at::Tensor, 3> backward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad,
                                            bool has_bias) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x2 = saved[0], &w = saved[1];
    at::Tensor g2 = rows_of(grad);
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0))
      dx = cpu::linear_grad_input_kernel(g2, w).view(ctx->saved_data["x_sizes"].toIntVector());
    if (ctx->needs_input_grad(1)) dw = cpu::linear_grad_weight_kernel(g2, x2);
    if (has_bias && ctx->needs_input_grad(2)) db = g2.sum(0);
    return {dx, dw, db};
  }
};

}  // namespace

at::Tensor linear_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return OptionalBiasFunction<LinearOp>::apply(x, weight, bias);
}

}  // namespace lemur::ops

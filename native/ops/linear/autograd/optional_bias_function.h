// A custom autograd Function over (x, weight, bias) whose bias may be absent, made of two
// Functions, with and without it: an undefined tensor cannot be an input of a custom Function
// in LibTorch 1.13 (its input metadata asks every input for a device). Op supplies
//   static at::Tensor forward(AutogradContext*, const at::Tensor& x, const at::Tensor& weight,
//                             const at::Tensor& bias);  // bias undefined: none
//   static std::array<at::Tensor, 3> backward(AutogradContext*, const at::Tensor& grad, bool has_bias);
//     // d x, d weight, d bias, each only where ctx->needs_input_grad asks for it
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/csrc/autograd/custom_function.h>

#include <array>

namespace lemur::ops {

template <typename Op>
struct OptionalBiasFunction {
  struct WithBias : torch::autograd::Function<WithBias> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias) {
      return Op::forward(ctx, x, weight, bias);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
      std::array<at::Tensor, 3> g = Op::backward(ctx, grads[0], true);
      return {g[0], g[1], g[2]};
    }
  };
  struct WithoutBias : torch::autograd::Function<WithoutBias> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
      return Op::forward(ctx, x, weight, at::Tensor());
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
      std::array<at::Tensor, 3> g = Op::backward(ctx, grads[0], false);
      return {g[0], g[1]};
    }
  };
  static at::Tensor apply(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
    return bias.defined() ? WithBias::apply(x, weight, bias) : WithoutBias::apply(x, weight);
  }
};

}  // namespace lemur::ops

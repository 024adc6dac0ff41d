// Autograd for ragged_mean_pool: d values[i] = d out[b(i)] / len(b(i)); offsets get none.
#include <torch/csrc/autograd/custom_function.h>

#include "ops/ragged_mean_pool/ragged_mean_pool.h"

namespace lemur::ops {
namespace {

class RaggedMeanPoolFunction : public torch::autograd::Function<RaggedMeanPoolFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& values,
                            const at::Tensor& offsets) {
    at::Tensor out = ragged_mean_pool_forward(values, offsets);
    ctx->save_for_backward({offsets.to(values.device(), at::kLong)});
    ctx->saved_data["total"] = values.size(0);
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    at::Tensor offsets = ctx->get_saved_variables()[0];
    at::Tensor grad = ragged_mean_pool_backward(grads[0], offsets, ctx->saved_data["total"].toInt());
    return {grad, at::Tensor()};
  }
};

}  // namespace

at::Tensor ragged_mean_pool(const at::Tensor& values, const at::Tensor& offsets) {
  return RaggedMeanPoolFunction::apply(values, offsets);
}

}  // namespace lemur::ops

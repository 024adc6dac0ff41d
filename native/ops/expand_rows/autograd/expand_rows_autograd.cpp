// Autograd for expand_rows: out = src[inverse]; d src = segment_sum_rows(d out, inverse).
#include <torch/csrc/autograd/custom_function.h>

#include "core/js_error.h"
#include "ops/common/ids.h"
#include "ops/expand_rows/expand_rows.h"

namespace lemur::ops {
namespace {

class ExpandRowsFunction : public torch::autograd::Function<ExpandRowsFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& src,
                            const at::Tensor& inverse_in) {
    const std::string op = "expand_rows";
    if (src.dim() != 2) throw UserError(op + ": src must be [U, D], got shape " + c10::str(src.sizes()));
    if (inverse_in.device() != src.device())
      throw UserError(op + ": inverse must be on src's device (" + src.device().str() + "), got " +
                      inverse_in.device().str());
    at::Tensor inverse = checked_ids(inverse_in, src.size(0), op, "inverse");
    ctx->saved_data["inverse"] = inverse;
    ctx->saved_data["num_rows"] = src.size(0);
    return expand_rows_forward(src, inverse);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    at::Tensor grad = segment_sum_rows_unchecked(grads[0], ctx->saved_data["inverse"].toTensor(),
                                                 ctx->saved_data["num_rows"].toInt());
    return {grad, at::Tensor()};
  }
};

}  // namespace

at::Tensor expand_rows(const at::Tensor& src, const at::Tensor& inverse) {
  return ExpandRowsFunction::apply(src, inverse);
}

}  // namespace lemur::ops

// Autograd for ragged_attention: saves q, k, v, out and the log-sum-exp; the backward
// recomputes the attention probabilities (no [Tq, Tk] matrix is ever stored).
#include <torch/csrc/autograd/custom_function.h>

#include "ops/ragged_attention/ragged_attention.h"

namespace lemur::ops {
namespace {

class RaggedAttentionFunction : public torch::autograd::Function<RaggedAttentionFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q,
                            const at::Tensor& k, const at::Tensor& v, const at::Tensor& q_offsets,
                            const at::Tensor& k_offsets, const c10::optional<at::Tensor>& key_mask,
                            double scale) {
    RaggedAttentionInputs in = ragged_attention_check(q, k, v, q_offsets, k_offsets, key_mask);
    auto [out, lse] = ragged_attention_forward(in, scale);
    ctx->save_for_backward({in.q, in.k, in.v, out, lse});
    ctx->saved_data["q_offsets"] = in.q_offsets;
    ctx->saved_data["k_offsets"] = in.k_offsets;
    ctx->saved_data["q_offsets_cpu"] = in.q_offsets_cpu;
    ctx->saved_data["k_offsets_cpu"] = in.k_offsets_cpu;
    ctx->saved_data["has_mask"] = in.key_mask.defined();
    if (in.key_mask.defined()) ctx->saved_data["key_mask"] = in.key_mask;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    RaggedAttentionInputs in;
    in.q = saved[0];
    in.k = saved[1];
    in.v = saved[2];
    in.q_offsets = ctx->saved_data["q_offsets"].toTensor();
    in.k_offsets = ctx->saved_data["k_offsets"].toTensor();
    in.q_offsets_cpu = ctx->saved_data["q_offsets_cpu"].toTensor();
    in.k_offsets_cpu = ctx->saved_data["k_offsets_cpu"].toTensor();
    if (ctx->saved_data["has_mask"].toBool()) in.key_mask = ctx->saved_data["key_mask"].toTensor();
    auto [dq, dk, dv] =
        ragged_attention_backward(in, saved[3], saved[4], grads[0], ctx->saved_data["scale"].toDouble());
    return {dq, dk, dv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor ragged_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& q_offsets, const at::Tensor& k_offsets,
                            const c10::optional<at::Tensor>& key_mask, double scale) {
  return RaggedAttentionFunction::apply(q, k, v, q_offsets, k_offsets, key_mask, scale);
}

}  // namespace lemur::ops

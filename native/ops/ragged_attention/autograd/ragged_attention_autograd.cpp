// Autograd for ragged_attention: saves q, k, v, out and the log-sum-exp; the backward
// recomputes the attention probabilities (no [Tq, Tk] matrix is ever stored). The packed
// variants take a fused projection whole, so its gradient is written packed, in one tensor.
#include <torch/csrc/autograd/custom_function.h>

#include "core/js_error.h"
#include "ops/ragged_attention/ragged_attention.h"

namespace lemur::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor forward_and_save(AutogradContext* ctx, const RaggedAttentionInputs& in, double scale) {
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

// (dq, dk, dv), written into `into` when given; `saved` is ctx->get_saved_variables(), unpacked once.
std::tuple<at::Tensor, at::Tensor, at::Tensor> saved_backward(AutogradContext* ctx, const variable_list& saved,
                                                              const at::Tensor& grad,
                                                              const RaggedAttentionGrads* into = nullptr) {
  RaggedAttentionInputs in;
  in.q = saved[0];
  in.k = saved[1];
  in.v = saved[2];
  in.q_offsets = ctx->saved_data["q_offsets"].toTensor();
  in.k_offsets = ctx->saved_data["k_offsets"].toTensor();
  in.q_offsets_cpu = ctx->saved_data["q_offsets_cpu"].toTensor();
  in.k_offsets_cpu = ctx->saved_data["k_offsets_cpu"].toTensor();
  if (ctx->saved_data["has_mask"].toBool()) in.key_mask = ctx->saved_data["key_mask"].toTensor();
  return ragged_attention_backward(in, saved[3], saved[4], grad, ctx->saved_data["scale"].toDouble(), into);
}

void check_packed(const at::Tensor& t, const char* name, int64_t parts) {
  if (t.dim() != 4 || t.size(1) != parts)
    throw UserError(std::string("ragged_attention: ") + name + " must be [T, " + std::to_string(parts) +
                    ", H, D], got shape " + c10::str(t.sizes()));
}

class RaggedAttentionFunction : public torch::autograd::Function<RaggedAttentionFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& q_offsets, const at::Tensor& k_offsets,
                            const c10::optional<at::Tensor>& key_mask, double scale) {
    return forward_and_save(ctx, ragged_attention_check(q, k, v, q_offsets, k_offsets, key_mask), scale);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto [dq, dk, dv] = saved_backward(ctx, ctx->get_saved_variables(), grads[0]);
    return {dq, dk, dv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class RaggedSelfAttentionFunction : public torch::autograd::Function<RaggedSelfAttentionFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& qkv, const at::Tensor& offsets, double scale) {
    check_packed(qkv, "qkv", 3);
    return forward_and_save(
        ctx, ragged_attention_check(qkv.select(1, 0), qkv.select(1, 1), qkv.select(1, 2), offsets, offsets, c10::nullopt),
        scale);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& q = saved[0];
    at::Tensor dqkv = at::empty({q.size(0), 3, q.size(1), q.size(2)}, q.options());
    const RaggedAttentionGrads into{dqkv.select(1, 0), dqkv.select(1, 1), dqkv.select(1, 2)};
    saved_backward(ctx, saved, grads[0], &into);
    return {dqkv, at::Tensor(), at::Tensor()};
  }
};

class RaggedAttentionPackedKvFunction : public torch::autograd::Function<RaggedAttentionPackedKvFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& kv,
                            const at::Tensor& q_offsets, const at::Tensor& k_offsets, double scale) {
    check_packed(kv, "kv", 2);
    return forward_and_save(
        ctx, ragged_attention_check(q, kv.select(1, 0), kv.select(1, 1), q_offsets, k_offsets, c10::nullopt), scale);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1];
    at::Tensor dq = at::empty(q.sizes(), q.options());
    at::Tensor dkv = at::empty({k.size(0), 2, k.size(1), k.size(2)}, k.options());
    const RaggedAttentionGrads into{dq, dkv.select(1, 0), dkv.select(1, 1)};
    saved_backward(ctx, saved, grads[0], &into);
    return {dq, dkv, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor ragged_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& q_offsets, const at::Tensor& k_offsets,
                            const c10::optional<at::Tensor>& key_mask, double scale) {
  return RaggedAttentionFunction::apply(q, k, v, q_offsets, k_offsets, key_mask, scale);
}

at::Tensor ragged_self_attention(const at::Tensor& qkv, const at::Tensor& offsets, double scale) {
  return RaggedSelfAttentionFunction::apply(qkv, offsets, scale);
}

at::Tensor ragged_attention_packed_kv(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& q_offsets,
                                      const at::Tensor& k_offsets, double scale) {
  return RaggedAttentionPackedKvFunction::apply(q, kv, q_offsets, k_offsets, scale);
}

}  // namespace lemur::ops

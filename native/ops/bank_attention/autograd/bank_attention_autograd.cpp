// Autograd for bank_attention: differentiable in q only (bank reads carry no gradient). Saves
// q, out and the log-sum-exp, and the bank, written flags and ids by reference: the backward
// re-reads the rows. bank_scatter bumps the bank's version, so writing the bank between this
// forward and its backward raises autograd's "modified by an inplace operation" error instead
// of silently recomputing with other rows.
#include <torch/csrc/autograd/custom_function.h>

#include "ops/bank_attention/bank_attention.h"

namespace lemur::ops {
namespace {

class BankAttentionFunction : public torch::autograd::Function<BankAttentionFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q,
                            const at::Tensor& bank, const at::Tensor& written, const at::Tensor& ids,
                            const at::Tensor& q_offsets, const at::Tensor& k_offsets, double scale) {
    BankAttentionInputs in = bank_attention_check(q, bank, written, ids, q_offsets, k_offsets);
    auto [out, lse] = bank_attention_forward(in, scale);
    ctx->save_for_backward({in.q, in.bank, in.written, out, lse});
    ctx->saved_data["ids"] = in.ids;
    ctx->saved_data["q_offsets"] = in.q_offsets;
    ctx->saved_data["k_offsets"] = in.k_offsets;
    ctx->saved_data["q_offsets_cpu"] = in.q_offsets_cpu;
    ctx->saved_data["k_offsets_cpu"] = in.k_offsets_cpu;
    ctx->saved_data["q_row_offsets"] = in.q_row_offsets;
    ctx->saved_data["q_row_offsets_cpu"] = in.q_row_offsets_cpu;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    BankAttentionInputs in;
    in.q = saved[0];
    in.bank = saved[1];
    in.written = saved[2];
    in.ids = ctx->saved_data["ids"].toTensor();
    in.q_offsets = ctx->saved_data["q_offsets"].toTensor();
    in.k_offsets = ctx->saved_data["k_offsets"].toTensor();
    in.q_offsets_cpu = ctx->saved_data["q_offsets_cpu"].toTensor();
    in.k_offsets_cpu = ctx->saved_data["k_offsets_cpu"].toTensor();
    in.q_row_offsets = ctx->saved_data["q_row_offsets"].toTensor();
    in.q_row_offsets_cpu = ctx->saved_data["q_row_offsets_cpu"].toTensor();
    at::Tensor dq =
        bank_attention_backward(in, saved[3], saved[4], grads[0], ctx->saved_data["scale"].toDouble());
    return {dq, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor bank_attention(const at::Tensor& q, const at::Tensor& bank, const at::Tensor& written,
                          const at::Tensor& ids, const at::Tensor& q_offsets,
                          const at::Tensor& k_offsets, double scale) {
  return BankAttentionFunction::apply(q, bank, written, ids, q_offsets, k_offsets, scale);
}

}  // namespace lemur::ops

// bank_attention: fused gather-attention. Each sample's queries attend over history rows read
// straight from the memory bank by id; the gathered history is never materialized.
//   q [Tq, H, E]: queries already projected into the bank's space (per head, E = bank width)
//   bank [N, E] (float32 or bfloat16), written [N] uint8 (0 = never written: a miss)
//   ids [Tk] int64 (bank rows), q_offsets / k_offsets [B+1] int64 as in ragged_attention
//   scale: multiplies q.row
//   -> out [Tq, H, E] = sum_i softmax_i(scale * q . bank[ids_i]) * bank[ids_i], over the
//      sample's present ids only; zeros when a sample has none.
// Keys and values are both the bank rows: with key/value projections folded into the query
// (q' = Wq Wk^T q) and the output (Wv applied after), this equals ordinary attention over
// projected rows (see model/sequence_decoder.cpp). Differentiable in q only: reads from the
// bank carry no gradient. An id outside [0, N) raises an error (never a device assert).
#pragma once
#include <ATen/core/Tensor.h>

namespace lemur::ops {

at::Tensor bank_attention(const at::Tensor& q, const at::Tensor& bank, const at::Tensor& written,
                          const at::Tensor& ids, const at::Tensor& q_offsets,
                          const at::Tensor& k_offsets, double scale);

}  // namespace lemur::ops

// ---- Below: the op's internals (dispatch, kernels), used by its autograd wrapper and the
// benchmarks. The model calls bank_attention() above.
#include <tuple>

namespace lemur::ops {

// Checked, normalized inputs: q and bank contiguous on one device, ids int64 in [0, N), offsets
// int64 on the host (`*_cpu`) and on the device; q_row_offsets = q_offsets * H (each sample's
// queries and heads are one contiguous run of [Tq * H, E] rows).
struct BankAttentionInputs {
  at::Tensor q, bank, written, ids, q_offsets, k_offsets, q_offsets_cpu, k_offsets_cpu;
  at::Tensor q_row_offsets, q_row_offsets_cpu;
};
BankAttentionInputs bank_attention_check(const at::Tensor& q, const at::Tensor& bank,
                                         const at::Tensor& written, const at::Tensor& ids,
                                         const at::Tensor& q_offsets, const at::Tensor& k_offsets);

// The dispatching forward and backward (no autograd). forward -> (out [Tq, H, E] in q's dtype,
// lse [Tq, H] float32, float64 for float64 q). backward -> dq.
std::tuple<at::Tensor, at::Tensor> bank_attention_forward(const BankAttentionInputs& in, double scale);
at::Tensor bank_attention_backward(const BankAttentionInputs& in, const at::Tensor& out,
                                   const at::Tensor& lse, const at::Tensor& grad_out, double scale);

namespace cpu {
std::tuple<at::Tensor, at::Tensor> bank_attention_forward_kernel(const BankAttentionInputs& in,
                                                                double scale);
at::Tensor bank_attention_backward_kernel(const BankAttentionInputs& in, const at::Tensor& out,
                                          const at::Tensor& lse, const at::Tensor& grad_out,
                                          double scale);
}  // namespace cpu

}  // namespace lemur::ops

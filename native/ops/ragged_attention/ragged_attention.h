// ragged_attention: multi-head attention where each sample's queries attend only to that
// sample's keys, both stored ragged (never padded).
//   q [Tq, H, D], k [Tk, H, D], v [Tk, H, Dv]   (float32, float16 or bfloat16; fp32 math)
//   q_offsets, k_offsets [B+1] int64: sample b owns q rows q_offsets[b]..q_offsets[b+1]-1
//     and k/v rows k_offsets[b]..k_offsets[b+1]-1.
//   key_mask (optional) [Tk] bool: false = masked out (e.g. a memory-bank miss).
//   scale: multiplies q.k (usually 1/sqrt(D)).
//   -> out [Tq, H, Dv]; a sample with no unmasked key gives zeros, and zero gradients.
// Fixed Nq queries per sample: q_offsets = Nq * [0, 1, ..., B]. Self-attention over a ragged
// sequence: q_offsets = k_offsets. Differentiable in q, k and v.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

namespace lemur::ops {

at::Tensor ragged_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& q_offsets, const at::Tensor& k_offsets,
                            const c10::optional<at::Tensor>& key_mask, double scale);

// The same attention over a packed projection (a fused q/k/v Linear's output, viewed), read
// where it lies on CPU, and differentiated as one tensor: its gradient is written packed
// too, where separate q, k and v slices would cost a copy each way (their contiguous copies
// in, and the stacking of dq, dk and dv out).
//   ragged_self_attention: qkv [T, 3, H, D]; q = k = v offsets.
//   ragged_attention_packed_kv: q [Tq, H, D], kv [Tk, 2, H, D].
at::Tensor ragged_self_attention(const at::Tensor& qkv, const at::Tensor& offsets, double scale);
at::Tensor ragged_attention_packed_kv(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& q_offsets,
                                      const at::Tensor& k_offsets, double scale);

}  // namespace lemur::ops

// ---- Below: the op's internals (dispatch, kernels), used by its autograd wrapper, the bank
// attention op and the benchmarks. The model calls ragged_attention() above.
#include <tuple>

namespace lemur::ops {

// Checked, normalized inputs: q/k/v with one dtype and device, contiguous, except float32 on
// CPU, which keeps any row stride (dims 1 and 2 dense: slices of a packed projection); offsets int64 both
// on the host (`*_cpu`) and on the tensors' device; key_mask a contiguous [Tk] bool tensor on
// the device, or undefined.
struct RaggedAttentionInputs {
  at::Tensor q, k, v, q_offsets, k_offsets, q_offsets_cpu, k_offsets_cpu, key_mask;
};
RaggedAttentionInputs ragged_attention_check(const at::Tensor& q, const at::Tensor& k,
                                             const at::Tensor& v, const at::Tensor& q_offsets,
                                             const at::Tensor& k_offsets,
                                             const c10::optional<at::Tensor>& key_mask);

// Where a backward writes dq, dk and dv: tensors shaped like q, k and v, dims 1 and 2 dense
// (e.g. slices of one packed gradient).
struct RaggedAttentionGrads {
  at::Tensor dq, dk, dv;
};

// The dispatching forward and backward (no autograd). forward -> (out [Tq, H, Dv], lse [Tq, H]:
// log-sum-exp of each query's scaled scores, -inf where it has no key; float32, float64 for
// float64 inputs). backward -> (dq, dk, dv), given out and lse from the forward: new tensors,
// or `into`'s, written.
std::tuple<at::Tensor, at::Tensor> ragged_attention_forward(const RaggedAttentionInputs& in,
                                                           double scale);
std::tuple<at::Tensor, at::Tensor, at::Tensor> ragged_attention_backward(
    const RaggedAttentionInputs& in, const at::Tensor& out, const at::Tensor& lse,
    const at::Tensor& grad_out, double scale, const RaggedAttentionGrads* into = nullptr);

namespace cpu {
std::tuple<at::Tensor, at::Tensor> ragged_attention_forward_kernel(const RaggedAttentionInputs& in,
                                                                  double scale);
std::tuple<at::Tensor, at::Tensor, at::Tensor> ragged_attention_backward_kernel(
    const RaggedAttentionInputs& in, const at::Tensor& out, const at::Tensor& lse,
    const at::Tensor& grad_out, double scale, const RaggedAttentionGrads* into);
}  // namespace cpu

}  // namespace lemur::ops

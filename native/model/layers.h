// Building blocks shared by the encoders, sequence modules and backbones.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "model/memory_bank.h"
#include "ops/layer_norm/layer_norm.h"
#include "ops/linear/linear.h"

namespace lemur::model {

// A Linear layer's product through lemur's linear op (oneDNN's GEMM for CPU float32, see
// ops/linear/linear.h); the layer keeps its parameters, names and initialization.
inline at::Tensor project(const torch::nn::Linear& l, const at::Tensor& x) { return ops::linear(x, l->weight, l->bias); }
inline at::Tensor project(const torch::nn::LinearImpl& l, const at::Tensor& x) { return ops::linear(x, l.weight, l.bias); }
// A LayerNorm module's output through lemur's layer_norm op (fused CPU float32 rows, see
// ops/layer_norm/layer_norm.h); the module keeps its parameters, names and eps.
inline at::Tensor normalize(const torch::nn::LayerNorm& ln, const at::Tensor& x) {
  return ops::layer_norm(x, ln->weight, ln->bias, ln->options.eps());
}

// Linear -> GELU -> Linear.
struct FeedForwardImpl : torch::nn::Module {
  FeedForwardImpl(int64_t in, int64_t hidden, int64_t out);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FeedForward);

// x + W2 (silu(W1 x) * W3 x): the SwiGLU block of HyFormer's light sequence encoder.
struct SwiGLUImpl : torch::nn::Module {
  SwiGLUImpl(int64_t width, int64_t hidden);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear gate{nullptr}, up{nullptr}, down{nullptr};
};
TORCH_MODULE(SwiGLU);

// Multi-head attention of ragged queries over ragged memory (ops::ragged_attention):
//   q [Tq, Wq] with q_offsets, memory [Tk, Wm] with k_offsets -> [Tq, Wq].
// Key and value projections have no bias, so that attention over raw memory-bank rows can
// be computed fused, straight from the bank (forward_bank), with the same parameters.
struct RaggedAttentionImpl : torch::nn::Module {
  RaggedAttentionImpl(int64_t q_width, int64_t mem_width, int64_t heads);
  at::Tensor forward(const at::Tensor& q, const at::Tensor& q_offsets, const at::Tensor& memory,
                     const at::Tensor& k_offsets, const c10::optional<at::Tensor>& key_mask);
  // The same attention with memory = bank rows[ids] (misses masked), never materialized.
  at::Tensor forward_bank(const at::Tensor& q, const at::Tensor& q_offsets, MemoryBankImpl& bank,
                          const at::Tensor& ids, const at::Tensor& k_offsets);
  torch::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
  int64_t heads, head_dim, mem_width;
};
TORCH_MODULE(RaggedAttention);

// Pre-LN residual block of attention then FFN for ragged queries: the unit of the LEMUR
// decoder, LONGER and HyFormer's query decoding.
struct AttentionBlockImpl : torch::nn::Module {
  AttentionBlockImpl(int64_t q_width, int64_t mem_width, int64_t heads, int64_t ffn_mult);
  at::Tensor forward(const at::Tensor& q, const at::Tensor& q_offsets, const at::Tensor& memory,
                     const at::Tensor& k_offsets, const c10::optional<at::Tensor>& key_mask);
  at::Tensor forward_bank(const at::Tensor& q, const at::Tensor& q_offsets, MemoryBankImpl& bank,
                          const at::Tensor& ids, const at::Tensor& k_offsets);
  // Self-attention among ragged tokens (queries = memory = LN(x)); masked tokens are not
  // attended to (they still get an output).
  at::Tensor forward_self(const at::Tensor& x, const at::Tensor& offsets,
                          const c10::optional<at::Tensor>& key_mask = c10::nullopt);
  at::Tensor ffn_residual(const at::Tensor& x);
  torch::nn::LayerNorm ln_q{nullptr}, ln_ffn{nullptr};
  RaggedAttention attn{nullptr};
  FeedForward ffn{nullptr};
};
TORCH_MODULE(AttentionBlock);

// An MLP ending in one logit: [in] -> hidden... -> 1.
struct MlpHeadImpl : torch::nn::Module {
  MlpHeadImpl(int64_t in, const std::vector<int64_t>& hidden);
  at::Tensor forward(const at::Tensor& x);  // -> [B]
  torch::nn::ModuleList layers;
};
TORCH_MODULE(MlpHead);

// x / ||x|| along the last dimension (zero rows stay zero).
at::Tensor l2_normalize(const at::Tensor& x);

// Offsets [B+1] of B samples holding `per_sample` rows each.
at::Tensor fixed_offsets(int64_t batch, int64_t per_sample, const at::Device& device);

// The last min(k, length) rows of each sample of a ragged batch: their row positions [R]
// and the offsets [B+1] of the result. (One host sync, for the result's size.)
std::pair<at::Tensor, at::Tensor> ragged_tail(const at::Tensor& offsets, int64_t k);

// For each row of a ragged batch, the sample it belongs to: [T].
at::Tensor ragged_sample_of_row(const at::Tensor& offsets, int64_t total);

}  // namespace lemur::model

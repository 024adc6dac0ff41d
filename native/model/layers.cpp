#include "model/layers.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>

#include <cmath>

#include "core/js_error.h"
#include "ops/bank_attention/bank_attention.h"
#include "ops/gelu/gelu.h"
#include "ops/linear/token_linear.h"
#include "ops/ragged_attention/ragged_attention.h"

namespace lemur::model {

FeedForwardImpl::FeedForwardImpl(int64_t in, int64_t hidden, int64_t out) {
  fc1 = register_module("fc1", torch::nn::Linear(in, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, out));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) { return project(fc2, ops::gelu(project(fc1, x))); }

SwiGLUImpl::SwiGLUImpl(int64_t width, int64_t hidden) {
  gate = register_module("gate", torch::nn::Linear(width, hidden));
  up = register_module("up", torch::nn::Linear(width, hidden));
  down = register_module("down", torch::nn::Linear(hidden, width));
}

at::Tensor SwiGLUImpl::forward(const at::Tensor& x) { return project(down, at::silu(project(gate, x)) * project(up, x)); }

RaggedAttentionImpl::RaggedAttentionImpl(int64_t q_width, int64_t mem_width_, int64_t heads_)
    : heads(heads_), mem_width(mem_width_) {
  if (q_width % heads != 0)
    throw UserError("attention width " + std::to_string(q_width) + " is not divisible by heads " +
                    std::to_string(heads));
  head_dim = q_width / heads;
  wq = register_module("wq", torch::nn::Linear(q_width, q_width));
  wk = register_module("wk", torch::nn::Linear(torch::nn::LinearOptions(mem_width, q_width).bias(false)));
  wv = register_module("wv", torch::nn::Linear(torch::nn::LinearOptions(mem_width, q_width).bias(false)));
  wo = register_module("wo", torch::nn::Linear(q_width, q_width));
}

at::Tensor RaggedAttentionImpl::forward(const at::Tensor& q, const at::Tensor& q_offsets,
                                        const at::Tensor& memory, const at::Tensor& k_offsets,
                                        const c10::optional<at::Tensor>& key_mask) {
  const int64_t Tq = q.size(0), Tk = memory.size(0);
  at::Tensor qh = project(wq, q).view({Tq, heads, head_dim});
  at::Tensor kh = project(wk, memory).view({Tk, heads, head_dim});
  at::Tensor vh = project(wv, memory).view({Tk, heads, head_dim});
  at::Tensor ctx = ops::ragged_attention(qh, kh, vh, q_offsets, k_offsets, key_mask,
                                         1.0 / std::sqrt(static_cast<double>(head_dim)));
  return project(wo, ctx.reshape({Tq, heads * head_dim}));
}

at::Tensor RaggedAttentionImpl::forward_bank(const at::Tensor& q, const at::Tensor& q_offsets,
                                             MemoryBankImpl& bank, const at::Tensor& ids,
                                             const at::Tensor& k_offsets) {
  // scores_h(q, r) = (Wq q)_h . (Wk r)_h = ((Wk_h)^T (Wq q)_h) . r: fold Wk into the query,
  // attend over raw rows, then apply Wv_h to the attended row mix. No bias on Wk/Wv keeps
  // this exact (a key bias is constant per query; a value bias would not vanish for an
  // empty history).
  const int64_t Tq = q.size(0);
  at::Tensor qh = project(wq, q).view({Tq, heads, head_dim});
  at::Tensor wk_h = wk->weight.view({heads, head_dim, mem_width});
  at::Tensor wv_h = wv->weight.view({heads, head_dim, mem_width});
  at::Tensor q_bank = ops::token_linear(qh, wk_h, at::Tensor());
  const at::Tensor& rows = bank.rows();
  if (q_bank.scalar_type() != rows.scalar_type()) q_bank = q_bank.to(rows.scalar_type());
  at::Tensor ctx = ops::bank_attention(q_bank, rows, bank.written(), ids, q_offsets, k_offsets,
                                       1.0 / std::sqrt(static_cast<double>(head_dim)));
  at::Tensor vh = ops::token_linear(ctx.to(wv_h.scalar_type()), wv_h.transpose(1, 2), at::Tensor());
  return project(wo, vh.reshape({Tq, heads * head_dim}));
}

AttentionBlockImpl::AttentionBlockImpl(int64_t q_width, int64_t mem_width, int64_t heads, int64_t ffn_mult) {
  ln_q = register_module("ln_q", torch::nn::LayerNorm(torch::nn::LayerNormOptions({q_width})));
  ln_ffn = register_module("ln_ffn", torch::nn::LayerNorm(torch::nn::LayerNormOptions({q_width})));
  attn = register_module("attn", RaggedAttention(q_width, mem_width, heads));
  ffn = register_module("ffn", FeedForward(q_width, ffn_mult * q_width, q_width));
}

at::Tensor AttentionBlockImpl::ffn_residual(const at::Tensor& x) { return x + ffn(normalize(ln_ffn, x)); }

at::Tensor AttentionBlockImpl::forward(const at::Tensor& q, const at::Tensor& q_offsets,
                                       const at::Tensor& memory, const at::Tensor& k_offsets,
                                       const c10::optional<at::Tensor>& key_mask) {
  return ffn_residual(q + attn(normalize(ln_q, q), q_offsets, memory, k_offsets, key_mask));
}

at::Tensor AttentionBlockImpl::forward_self(const at::Tensor& x, const at::Tensor& offsets,
                                            const c10::optional<at::Tensor>& key_mask) {
  at::Tensor n = normalize(ln_q, x);
  return ffn_residual(x + attn(n, offsets, n, offsets, key_mask));
}

at::Tensor AttentionBlockImpl::forward_bank(const at::Tensor& q, const at::Tensor& q_offsets,
                                            MemoryBankImpl& bank, const at::Tensor& ids,
                                            const at::Tensor& k_offsets) {
  return ffn_residual(q + attn->forward_bank(normalize(ln_q, q), q_offsets, bank, ids, k_offsets));
}

MlpHeadImpl::MlpHeadImpl(int64_t in, const std::vector<int64_t>& hidden) {
  layers = register_module("layers", torch::nn::ModuleList());
  int64_t width = in;
  for (int64_t h : hidden) {
    layers->push_back(torch::nn::Linear(width, h));
    width = h;
  }
  layers->push_back(torch::nn::Linear(width, 1));
}

at::Tensor MlpHeadImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  const size_t n = layers->size();
  for (size_t i = 0; i < n; ++i) {
    h = project(*layers[i]->as<torch::nn::Linear>(), h);
    if (i + 1 < n) h = at::relu(h);
  }
  return h.squeeze(-1);
}

at::Tensor l2_normalize(const at::Tensor& x) {
  return x / x.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12);
}

at::Tensor fixed_offsets(int64_t batch, int64_t per_sample, const at::Device& device) {
  return at::arange(0, (batch + 1) * per_sample, per_sample,
                    at::TensorOptions().dtype(at::kLong).device(device));
}

}  // namespace lemur::model

namespace lemur::model {

at::Tensor ragged_sample_of_row(const at::Tensor& offsets, int64_t total) {
  at::Tensor rows = at::arange(total, offsets.options());
  return at::searchsorted(offsets.slice(0, 1), rows, /*out_int32=*/false, /*right=*/true);
}

std::pair<at::Tensor, at::Tensor> ragged_tail(const at::Tensor& offsets, int64_t k) {
  at::Tensor lengths = offsets.slice(0, 1) - offsets.slice(0, 0, -1);
  at::Tensor kept = lengths.clamp_max(k);
  at::Tensor new_offsets = at::cat({at::zeros({1}, offsets.options()), at::cumsum(kept, 0)});
  const int64_t total = new_offsets[-1].item<int64_t>();
  at::Tensor sample = ragged_sample_of_row(new_offsets, total);
  at::Tensor j = at::arange(total, offsets.options());
  at::Tensor positions = offsets.index_select(0, sample + 1) - kept.index_select(0, sample) +
                         (j - new_offsets.index_select(0, sample));
  return {positions, new_offsets};
}

}  // namespace lemur::model

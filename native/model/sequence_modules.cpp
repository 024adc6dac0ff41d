#include "model/sequence_modules.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/ragged_mean_pool/ragged_mean_pool.h"

namespace lemur::model {

SideInfoImpl::SideInfoImpl(int64_t width, int64_t action_types, bool action, bool age) {
  // Small initial side info: added to memory-bank rows of unit norm, torch's defaults (N(0, 1)
  // embeddings, U(-1, 1) for a 1-input Linear) would drown the content at the start.
  const double std = 0.02;
  if (action) {
    action_emb = register_module("action_emb", torch::nn::Embedding(action_types, width));
    action_emb->weight.data().normal_(0, std);
  }
  if (age) {
    age_proj = register_module("age_proj", torch::nn::Linear(1, width));
    age_proj->weight.data().normal_(0, std);
    age_proj->bias.data().zero_();
  }
}

at::Tensor SideInfoImpl::forward(const data::SequenceBatch& seq, const at::Tensor& events) {
  at::Tensor out = events;
  if (!action_emb.is_empty() && seq.action.defined())
    out = out + action_emb(seq.action.clamp(0, action_emb->weight.size(0) - 1));
  if (!age_proj.is_empty() && seq.age.defined()) {
    // age * w + b, broadcast: a [T, 1] x [1, W] GEMM is far slower than this on CPU BLAS
    const at::Tensor age = seq.age.unsqueeze(1).to(events.scalar_type());
    out = out + age * age_proj->weight.view({1, -1}).to(events.scalar_type()) + age_proj->bias.to(events.scalar_type());
  }
  return out;
}

// ---------------------------------------------------------------- SequenceDecoder

SequenceDecoderImpl::SequenceDecoderImpl(const DecoderConfig& c, const SequenceConfig& seq, int64_t context_dim,
                                         int64_t bank_dim, int64_t action_types)
    : config(c) {
  query_gen = register_module("query_gen", torch::nn::Linear(context_dim, c.queries * c.width));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.layers; ++i) blocks->push_back(AttentionBlock(c.width, bank_dim, c.heads, c.ffn_mult));
  if (seq.use_action || seq.use_age)
    side_info = register_module("side_info", SideInfo(bank_dim, action_types, seq.use_action, seq.use_age));
  if (c.memory_norm) memory_ln = register_module("memory_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({bank_dim})));
}

at::Tensor SequenceDecoderImpl::forward(const at::Tensor& context, const data::SequenceBatch& seq,
                                        MemoryBankImpl& bank, const at::Tensor& fresh_slot,
                                        const at::Tensor& fresh_vectors) {
  const int64_t B = context.size(0), Nq = config.queries, W = config.width;
  at::Tensor q = project(query_gen, context).view({B * Nq, W});
  at::Tensor q_offsets = fixed_offsets(B, Nq, context.device());
  const bool gradient_fresh = fresh_slot.defined();
  if (fusable() && !gradient_fresh) {
    for (const auto& b : *blocks) q = b->as<AttentionBlock>()->forward_bank(q, q_offsets, bank, seq.ids, seq.offsets);
  } else {
    auto [rows, mask] = bank.read(seq.ids);
    if (gradient_fresh) apply_fresh_rows(rows, mask, seq.ids, fresh_slot, fresh_vectors);
    return forward_rows(context, seq, rows, mask);
  }
  return q.view({B, Nq, W});
}

at::Tensor SequenceDecoderImpl::forward_rows(const at::Tensor& context, const data::SequenceBatch& seq,
                                             const at::Tensor& rows, const c10::optional<at::Tensor>& mask) {
  const int64_t B = context.size(0), Nq = config.queries, W = config.width;
  at::Tensor q = project(query_gen, context).view({B * Nq, W});
  at::Tensor q_offsets = fixed_offsets(B, Nq, context.device());
  at::Tensor memory = side_info.is_empty() ? rows : side_info(seq, rows);
  if (!memory_ln.is_empty()) memory = normalize(memory_ln, memory);
  for (const auto& b : *blocks) q = b->as<AttentionBlock>()->forward(q, q_offsets, memory, seq.offsets, mask);
  return q.view({B, Nq, W});
}

void apply_fresh_rows(at::Tensor& rows, at::Tensor& present, const at::Tensor& ids, const at::Tensor& fresh_slot,
                      const at::Tensor& fresh_vectors) {
  at::Tensor slot = fresh_slot.index_select(0, ids);
  at::Tensor is_fresh = slot.ge(0);
  at::Tensor fresh = fresh_vectors.index_select(0, slot.clamp_min(0));
  rows = at::where(is_fresh.unsqueeze(1), fresh.to(rows.scalar_type()), rows);
  present = present.logical_or(is_fresh);
}

at::Tensor masked_mean_pool(const at::Tensor& x, const at::Tensor& offsets, const at::Tensor& mask) {
  if (!mask.defined()) return ops::ragged_mean_pool(x, offsets);
  at::Tensor m = mask.to(x.scalar_type()).unsqueeze(1);
  // mean(x * m) / mean(m) over each sample: the mean of the unmasked rows
  at::Tensor num = ops::ragged_mean_pool(x * m, offsets);
  at::Tensor den = ops::ragged_mean_pool(m, offsets);
  return num / den.clamp_min(1e-6) * den.gt(0).to(x.scalar_type());
}

// ---------------------------------------------------------------- IdSequenceEncoder

IdSequenceEncoderImpl::IdSequenceEncoderImpl(const LongerConfig& c, const std::string& mode_, int64_t item_dim,
                                             int64_t context_dim, const SequenceConfig& seq, int64_t action_types)
    : config(c), mode(mode_) {
  if (mode != "longer" && mode != "swiglu" && mode != "transformer")
    throw UserError("sequence '" + seq.name + "': idEncoder must be 'longer', 'swiglu' or 'transformer', got '" + mode + "'");
  const int64_t W = c.width;
  item_proj = register_module("item_proj", torch::nn::Linear(item_dim, W));
  item_ln = register_module("item_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({W})));
  global_gen = register_module("global_gen", torch::nn::Linear(context_dim, c.global_tokens * W));
  blocks = register_module("blocks", torch::nn::ModuleList());
  item_layers = register_module("item_layers", torch::nn::ModuleList());
  if (mode == "longer") {
    for (int64_t i = 0; i < c.layers; ++i) blocks->push_back(AttentionBlock(W, W, c.heads, c.ffn_mult));
  } else {
    for (int64_t i = 0; i < c.layers; ++i)
      item_layers->push_back(SequenceLayer(mode, W, c.heads, c.ffn_mult, c.recent, false));
    readout = register_module("readout", AttentionBlock(W, W, c.heads, c.ffn_mult));
  }
  if (seq.use_action || seq.use_age)
    side_info = register_module("side_info", SideInfo(W, action_types, seq.use_action, seq.use_age));
}

at::Tensor IdSequenceEncoderImpl::forward(const at::Tensor& context, const data::SequenceBatch& seq,
                                          const at::Tensor& items) {
  const int64_t B = context.size(0), G = config.global_tokens, W = config.width;
  const auto dev = context.device();
  at::Tensor x = project(item_proj, items);
  if (!side_info.is_empty()) x = side_info(seq, x);
  x = normalize(item_ln, x);
  at::Tensor global = project(global_gen, context).view({B * G, W});
  if (mode == "longer") {
    // Queries of sample b: its G global tokens, then its most recent events.
    auto [recent_pos, recent_off] = ragged_tail(seq.offsets, config.recent);
    at::Tensor recent_len = recent_off.slice(0, 1) - recent_off.slice(0, 0, -1);
    at::Tensor q_offsets = at::cat({at::zeros({1}, recent_off.options()), at::cumsum(recent_len + G, 0)});
    at::Tensor global_pos = (q_offsets.slice(0, 0, -1).unsqueeze(1) + at::arange(G, q_offsets.options())).reshape({-1});
    const int64_t R = recent_pos.size(0);
    at::Tensor recent_sample = ragged_sample_of_row(recent_off, R);
    at::Tensor recent_q_pos = q_offsets.index_select(0, recent_sample) + G +
                              (at::arange(R, q_offsets.options()) - recent_off.index_select(0, recent_sample));
    at::Tensor q = at::zeros({B * G + R, W}, x.options())
                       .index_put({global_pos}, global)
                       .index_put({recent_q_pos}, x.index_select(0, recent_pos));
    for (size_t i = 0; i < blocks->size(); ++i) {
      auto block = blocks[i]->as<AttentionBlock>();
      q = i == 0 ? block->forward(q, q_offsets, x, seq.offsets, c10::nullopt) : block->forward_self(q, q_offsets);
    }
    at::Tensor g_out = q.index_select(0, global_pos).view({B, G, W});
    at::Tensor r_out = ops::ragged_mean_pool(q.index_select(0, recent_q_pos), recent_off);
    return at::cat({g_out, r_out.unsqueeze(1)}, 1);
  }
  SequenceState s{x, seq.offsets};
  for (const auto& layer : *item_layers) s = layer->as<SequenceLayer>()->forward(s);
  at::Tensor g = readout(global, fixed_offsets(B, G, dev), s.x, s.offsets, c10::nullopt).view({B, G, W});
  at::Tensor pooled = ops::ragged_mean_pool(s.x, s.offsets);
  return at::cat({g, pooled.unsqueeze(1)}, 1);
}

// ---------------------------------------------------------------- SequenceLayer

SequenceLayerImpl::SequenceLayerImpl(const std::string& mode_, int64_t width, int64_t heads, int64_t ffn_mult,
                                     int64_t recent_, bool first_)
    : mode(mode_), recent(recent_), first(first_) {
  if (mode == "swiglu") {
    ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
    swiglu = register_module("swiglu", SwiGLU(width, ffn_mult * width));
  } else if (mode == "transformer" || mode == "longer") {
    block = register_module("block", AttentionBlock(width, width, heads, ffn_mult));
  } else {
    throw UserError("sequence encoder must be 'transformer', 'longer' or 'swiglu', got '" + mode + "'");
  }
}

SequenceState SequenceLayerImpl::forward(const SequenceState& s) {
  if (mode == "swiglu") return {s.x + swiglu(normalize(ln, s.x)), s.offsets, s.mask};
  if (mode == "longer" && first) {
    // The most recent events query the whole sequence; the sequence becomes those queries.
    auto [pos, off] = ragged_tail(s.offsets, recent);
    at::Tensor mask = s.mask.defined() ? s.mask.index_select(0, pos) : at::Tensor();
    return {block(s.x.index_select(0, pos), off, s.x, s.offsets, s.key_mask()), off, mask};
  }
  return {block->forward_self(s.x, s.offsets, s.key_mask()), s.offsets, s.mask};
}

// ---------------------------------------------------------------- similarity

SimilarityOutput similarity_features(const at::Tensor& target, const data::SequenceBatch& seq, MemoryBankImpl& bank,
                                     int64_t k, const at::Tensor& given_rows) {
  const int64_t B = target.size(0), T = seq.ids.size(0);
  at::Tensor rows, present;
  if (given_rows.defined()) {
    rows = given_rows;
    present = at::ones({T}, seq.ids.options().dtype(at::kBool));
  } else {
    std::tie(rows, present) = bank.read(seq.ids);
  }
  at::Tensor sample = ragged_sample_of_row(seq.offsets, T);
  at::Tensor cos = (l2_normalize(rows.to(target.scalar_type())) * target.index_select(0, sample)).sum(1) *
                   present.to(target.scalar_type());
  // The K newest events, newest first: slot = (row's end - 1 - position).
  auto [pos, off] = ragged_tail(seq.offsets, k);
  const int64_t R = pos.size(0);
  at::Tensor r_sample = ragged_sample_of_row(off, R);
  at::Tensor slot = off.index_select(0, r_sample + 1) - 1 - at::arange(R, off.options());
  at::Tensor recent = at::zeros({B, k}, target.options()).index_put({r_sample, slot}, cos.index_select(0, pos));
  // The K highest cosines over every known event of the sample.
  at::Tensor lengths = seq.offsets.slice(0, 1) - seq.offsets.slice(0, 0, -1);
  const int64_t L = std::max<int64_t>(T > 0 ? lengths.max().item<int64_t>() : 0, k);
  at::Tensor col = at::arange(T, seq.offsets.options()) - seq.offsets.index_select(0, sample);
  const double none = -1e4;  // below any cosine: unknown events and padding sort last
  at::Tensor dense = at::full({B, L}, none, target.options())
                         .index_put({sample, col}, at::where(present, cos, at::full_like(cos, none)));
  auto [top_values, top_cols] = dense.topk(k, 1, /*largest=*/true, /*sorted=*/true);
  at::Tensor known = top_values.gt(none / 2);
  at::Tensor sorted = at::where(known, top_values, at::zeros_like(top_values));
  at::Tensor top = at::where(known, seq.offsets.slice(0, 0, -1).unsqueeze(1) + top_cols, at::full_like(top_cols, -1));
  return {at::cat({recent, sorted}, 1), top};
}

SimilarityImpl::SimilarityImpl(int64_t k_, int64_t action_types, bool action) : k(k_) {
  if (action) {
    action_value = register_module("action_value", torch::nn::Embedding(action_types, 1));
    action_value->weight.data().zero_();  // starts as plain similarity features
  }
}

at::Tensor SimilarityImpl::forward(const at::Tensor& target, const data::SequenceBatch& seq, MemoryBankImpl& bank,
                                   const at::Tensor& rows) {
  SimilarityOutput s = similarity_features(target, seq, bank, k, rows);
  if (action_value.is_empty() || !seq.action.defined()) return s.features;
  at::Tensor known = s.top.ge(0);
  at::Tensor action = seq.action.index_select(0, s.top.clamp_min(0).reshape({-1})).reshape(s.top.sizes());
  at::Tensor value = action_value(action.clamp(0, action_value->weight.size(0) - 1)).squeeze(-1) * known.to(target.scalar_type());
  return at::cat({s.features, value.to(s.features.scalar_type())}, 1);
}

}  // namespace lemur::model

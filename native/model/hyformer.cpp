#include "model/hyformer.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/ragged_mean_pool/ragged_mean_pool.h"

namespace lemur::model {

HyFormerImpl::HyFormerImpl(const BackboneConfig& c, int64_t ns_dim, const std::vector<HyFormerSequenceSpec>& specs,
                           int64_t action_types)
    : config(c), num_sequences(static_cast<int64_t>(specs.size())) {
  const int64_t D = c.width, Nq = c.queries_per_sequence;
  if (num_sequences == 0) throw UserError("the HyFormer backbone needs at least one sequence");
  total_tokens = num_sequences * Nq + c.ns_tokens;
  if (D % total_tokens != 0)
    throw UserError("HyFormer: width " + std::to_string(D) + " must be divisible by its token count " +
                    std::to_string(total_tokens) + " = sequences x queriesPerSequence + nsTokens");
  ns_tokenizer = register_module("ns_tokenizer", FeatureTokenizer(ns_dim, c.ns_tokens, D));
  item_proj = register_module("item_proj", torch::nn::ModuleList());
  query_gen = register_module("query_gen", torch::nn::ModuleList());
  seq_layers = register_module("seq_layers", torch::nn::ModuleList());
  decoders = register_module("decoders", torch::nn::ModuleList());
  boosters = register_module("boosters", torch::nn::ModuleList());
  side_info = register_module("side_info", torch::nn::ModuleList());
  const int64_t g_dim = c.ns_tokens * D + num_sequences * D;
  const int64_t heads = std::max<int64_t>(1, D / 16);
  for (int64_t s = 0; s < num_sequences; ++s) {
    item_proj->push_back(torch::nn::Linear(specs[s].item_dim, D));
    if (specs[s].action || specs[s].age) {
      side_info_of.push_back(static_cast<int>(side_info->size()));
      side_info->push_back(SideInfo(D, action_types, specs[s].action, specs[s].age));
    } else {
      side_info_of.push_back(-1);
    }
    for (int64_t j = 0; j < Nq; ++j) query_gen->push_back(FeedForward(g_dim, 2 * D, D));
  }
  for (int64_t l = 0; l < c.layers; ++l) {
    for (int64_t s = 0; s < num_sequences; ++s) {
      seq_layers->push_back(SequenceLayer(c.sequence_encoder, D, heads, c.ffn_mult, c.recent, l == 0));
      decoders->push_back(AttentionBlock(D, D, heads, c.ffn_mult));
    }
    boosters->push_back(RankMixerBlock(total_tokens, D, c.ffn_mult));
  }
  head = register_module("head", MlpHead(D, c.mlp_hidden));
}

at::Tensor HyFormerImpl::forward(const at::Tensor& ns_features, const std::vector<HyFormerSequence>& sequences) {
  const int64_t B = ns_features.size(0), D = config.width, Nq = config.queries_per_sequence;
  const auto dev = ns_features.device();
  at::Tensor ns = ns_tokenizer(ns_features);  // [B, T_ns, D]
  std::vector<SequenceState> states;
  std::vector<at::Tensor> g_parts{ns.reshape({B, -1})};
  for (int64_t s = 0; s < num_sequences; ++s) {
    at::Tensor x = project(*item_proj[s]->as<torch::nn::Linear>(), sequences[s].items);
    if (side_info_of[s] >= 0 && sequences[s].view) x = side_info[side_info_of[s]]->as<SideInfo>()->forward(*sequences[s].view, x);
    states.push_back({x, sequences[s].offsets, sequences[s].mask});
    g_parts.push_back(masked_mean_pool(x, sequences[s].offsets, sequences[s].mask));
  }
  // Query generation, once.
  at::Tensor g = at::cat(g_parts, 1);
  std::vector<at::Tensor> queries;
  for (int64_t s = 0; s < num_sequences; ++s) {
    std::vector<at::Tensor> qs;
    for (int64_t j = 0; j < Nq; ++j) qs.push_back(query_gen[s * Nq + j]->as<FeedForward>()->forward(g));
    queries.push_back(at::stack(qs, 1).reshape({B * Nq, D}));
  }
  at::Tensor q_offsets = fixed_offsets(B, Nq, dev);
  at::Tensor x;
  for (int64_t l = 0; l < config.layers; ++l) {
    for (int64_t s = 0; s < num_sequences; ++s) {
      // (a) per-sequence re-encoding and query decoding
      states[s] = seq_layers[l * num_sequences + s]->as<SequenceLayer>()->forward(states[s]);
      queries[s] = decoders[l * num_sequences + s]->as<AttentionBlock>()->forward(
          queries[s], q_offsets, states[s].x, states[s].offsets, states[s].key_mask());
    }
    // (b) query boosting: all decoded queries and the NS tokens through one RankMixer block
    std::vector<at::Tensor> tokens;
    for (auto& q : queries) tokens.push_back(q.view({B, Nq, D}));
    tokens.push_back(ns);
    x = boosters[l]->as<RankMixerBlock>()->forward(at::cat(tokens, 1));
    for (int64_t s = 0; s < num_sequences; ++s) queries[s] = x.slice(1, s * Nq, (s + 1) * Nq).reshape({B * Nq, D});
    ns = x.slice(1, num_sequences * Nq);
  }
  return head(x.mean(1));
}

}  // namespace lemur::model

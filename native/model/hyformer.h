// HyFormer (arXiv 2601.12681). Global query tokens are generated once from
// g = concat(NS tokens, mean-pool of every sequence): Q_s = [FFN_s1(g), ..., FFN_sN(g)].
// Each layer (a) re-encodes every sequence (Transformer, LONGER-style or SwiGLU) and lets
// that sequence's queries cross-attend to it (query decoding, sequences kept separate), then
// (b) passes all decoded queries plus the NS tokens through one RankMixer block (query
// boosting). The top layer's tokens are mean-pooled into an MLP head.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "model/config.h"
#include "model/layers.h"
#include "model/rank_mixer.h"
#include "model/sequence_modules.h"

namespace lemur::model {

struct HyFormerSequence {
  at::Tensor items;    // [T, item_dim]
  at::Tensor offsets;  // [B+1]
  at::Tensor mask;     // [T] bool, false = nothing known of the event (masked out); or undefined
  const data::SequenceBatch* view = nullptr;  // its side info (action, age), when used
};

// What HyFormer needs to know of each sequence when it is built.
struct HyFormerSequenceSpec {
  int64_t item_dim = 0;
  bool action = false, age = false;  // side info embedded and added to the projected events
};

struct HyFormerImpl : torch::nn::Module {
  HyFormerImpl(const BackboneConfig& config, int64_t ns_dim, const std::vector<HyFormerSequenceSpec>& sequences,
               int64_t action_types);
  at::Tensor forward(const at::Tensor& ns_features, const std::vector<HyFormerSequence>& sequences);

  BackboneConfig config;
  int64_t num_sequences, total_tokens;
  FeatureTokenizer ns_tokenizer{nullptr};
  torch::nn::ModuleList item_proj, query_gen, seq_layers, decoders, boosters, side_info;
  std::vector<int> side_info_of;  // per sequence: index into side_info or -1
  MlpHead head{nullptr};
};
TORCH_MODULE(HyFormer);

}  // namespace lemur::model

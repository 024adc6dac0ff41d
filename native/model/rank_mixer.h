// RankMixer (arXiv 2507.15551): features are tokenized into T tokens of width D (the flat
// feature vector, ordered by semantic group, cut into T chunks, each with its own Linear);
// each layer is S = LN(TokenMix(X) + X), X' = LN(PerTokenFFN(S) + S). TokenMix splits every
// token into T sub-spaces and regroups sub-space h of all tokens into token h: a reshape and
// transpose, no parameters. PerTokenFFN has separate weights per token position.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>

#include "model/layers.h"

namespace lemur::model {

// [B, T, D] -> [B, T, D] with out[b, h, t*(D/T) + j] = x[b, t, h*(D/T) + j].
at::Tensor token_mix(const at::Tensor& x);

// Cuts [B, F] into T chunks (zero-padded to T*ceil(F/T)) and projects chunk t with its own
// weights: -> [B, T, D].
struct FeatureTokenizerImpl : torch::nn::Module {
  FeatureTokenizerImpl(int64_t input_dim, int64_t tokens, int64_t width);
  at::Tensor forward(const at::Tensor& features);
  int64_t input_dim, tokens, chunk;
  at::Tensor weight, bias;  // [T, chunk, D], [T, D]
};
TORCH_MODULE(FeatureTokenizer);

// Position-wise FFN with separate weights for each of the T token positions.
struct PerTokenFFNImpl : torch::nn::Module {
  PerTokenFFNImpl(int64_t tokens, int64_t width, int64_t hidden);
  at::Tensor forward(const at::Tensor& x);  // [B, T, D]
  at::Tensor w1, b1, w2, b2;
};
TORCH_MODULE(PerTokenFFN);

struct RankMixerBlockImpl : torch::nn::Module {
  RankMixerBlockImpl(int64_t tokens, int64_t width, int64_t ffn_mult);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::LayerNorm ln_mix{nullptr}, ln_ffn{nullptr};
  PerTokenFFN ffn{nullptr};
};
TORCH_MODULE(RankMixerBlock);

// The RankMixer backbone: tokenizer, L blocks, mean-pool, MLP head -> logit [B].
struct RankMixerImpl : torch::nn::Module {
  RankMixerImpl(int64_t input_dim, int64_t tokens, int64_t width, int64_t layers, int64_t ffn_mult,
                const std::vector<int64_t>& head_hidden);
  at::Tensor forward(const at::Tensor& features);
  FeatureTokenizer tokenizer{nullptr};
  torch::nn::ModuleList blocks;
  MlpHead head{nullptr};
};
TORCH_MODULE(RankMixer);

}  // namespace lemur::model

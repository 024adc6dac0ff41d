#include "model/rank_mixer.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/js_error.h"
#include "ops/gelu/gelu.h"
#include "ops/linear/token_linear.h"

namespace lemur::model {

at::Tensor token_mix(const at::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  return x.view({B, T, T, D / T}).transpose(1, 2).reshape({B, T, D});
}

FeatureTokenizerImpl::FeatureTokenizerImpl(int64_t input_dim_, int64_t tokens_, int64_t width)
    : input_dim(input_dim_), tokens(tokens_) {
  chunk = (input_dim + tokens - 1) / tokens;
  const double bound = 1.0 / std::sqrt(static_cast<double>(chunk));
  weight = register_parameter("weight", at::empty({tokens, chunk, width}).uniform_(-bound, bound));
  bias = register_parameter("bias", at::zeros({tokens, width}));
}

at::Tensor FeatureTokenizerImpl::forward(const at::Tensor& features) {
  const int64_t B = features.size(0);
  at::Tensor f = features;
  if (tokens * chunk > input_dim) f = at::constant_pad_nd(f, {0, tokens * chunk - input_dim});
  return ops::token_linear(f.view({B, tokens, chunk}), weight, bias);
}

PerTokenFFNImpl::PerTokenFFNImpl(int64_t tokens, int64_t width, int64_t hidden) {
  const double b1v = 1.0 / std::sqrt(static_cast<double>(width)), b2v = 1.0 / std::sqrt(static_cast<double>(hidden));
  w1 = register_parameter("w1", at::empty({tokens, width, hidden}).uniform_(-b1v, b1v));
  b1 = register_parameter("b1", at::zeros({tokens, hidden}));
  w2 = register_parameter("w2", at::empty({tokens, hidden, width}).uniform_(-b2v, b2v));
  b2 = register_parameter("b2", at::zeros({tokens, width}));
}

at::Tensor PerTokenFFNImpl::forward(const at::Tensor& x) {
  return ops::token_linear(ops::gelu(ops::token_linear(x, w1, b1)), w2, b2);
}

RankMixerBlockImpl::RankMixerBlockImpl(int64_t tokens, int64_t width, int64_t ffn_mult) {
  if (width % tokens != 0)
    throw UserError("RankMixer width " + std::to_string(width) + " must be divisible by its token count " +
                    std::to_string(tokens) + " (token mixing splits each token into T sub-spaces)");
  ln_mix = register_module("ln_mix", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  ln_ffn = register_module("ln_ffn", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  ffn = register_module("ffn", PerTokenFFN(tokens, width, ffn_mult * width));
}

at::Tensor RankMixerBlockImpl::forward(const at::Tensor& x) {
  at::Tensor s = normalize(ln_mix, token_mix(x) + x);
  return normalize(ln_ffn, ffn(s) + s);
}

RankMixerImpl::RankMixerImpl(int64_t input_dim, int64_t tokens, int64_t width, int64_t layers, int64_t ffn_mult,
                             const std::vector<int64_t>& head_hidden) {
  tokenizer = register_module("tokenizer", FeatureTokenizer(input_dim, tokens, width));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) blocks->push_back(RankMixerBlock(tokens, width, ffn_mult));
  head = register_module("head", MlpHead(width, head_hidden));
}

at::Tensor RankMixerImpl::forward(const at::Tensor& features) {
  at::Tensor x = tokenizer(features);
  for (const auto& b : *blocks) x = b->as<RankMixerBlock>()->forward(x);
  return head(x.mean(1));
}

}  // namespace lemur::model

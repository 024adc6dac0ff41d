#include "model/text_encoder.h"

#include <ATen/ATen.h>

#include "core/js_error.h"

namespace lemur::model {

namespace {
constexpr int64_t kSepToken = 2;
}

EncoderLayerImpl::EncoderLayerImpl(int64_t width, int64_t heads, int64_t ffn_mult) {
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  attn = register_module("attn", DenseSelfAttention(width, heads));
  ffn = register_module("ffn", FeedForward(width, ffn_mult * width, width));
}

at::Tensor EncoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& pad) {
  at::Tensor h = x + attn(ln1(x), pad);
  return h + ffn(ln2(h));
}

TextEncoderImpl::TextEncoderImpl(const TextEncoderOptions& o) : options(o) {
  const int64_t W = o.encoder.width;
  token_emb = register_module("token_emb", torch::nn::Embedding(o.vocab, W));
  pos_emb = register_module("pos_emb", torch::nn::Embedding(std::max<int64_t>(o.max_tokens, 1), W));
  // types: 0 = [CLS], 1..fields = text fields, fields + 1 = image patches
  type_emb = register_module("type_emb", torch::nn::Embedding(o.text_fields + 2, W));
  if (o.image_h > 0) {
    const int64_t P = o.encoder.patch;
    if (o.image_h % P != 0 || o.image_w % P != 0)
      throw UserError("image size " + std::to_string(o.image_h) + "x" + std::to_string(o.image_w) +
                      " is not divisible by the patch size " + std::to_string(P));
    patches = (o.image_h / P) * (o.image_w / P);
    patch_proj = register_module("patch_proj", torch::nn::Linear(P * P * o.image_c, W));
    patch_pos = register_parameter("patch_pos", at::randn({patches, W}) * 0.02);
  }
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.encoder.layers; ++i)
    layers->push_back(EncoderLayer(W, o.encoder.heads, o.encoder.ffn_mult));
  final_ln = register_module("final_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({W})));
  out = register_module("out", torch::nn::Linear(W, o.out_dim));
  for (auto& p : named_parameters())
    if (p.key().find("emb.weight") != std::string::npos) p.value().data().normal_(0, 0.02);
}

at::Tensor TextEncoderImpl::forward(const at::Tensor& tokens_in, const at::Tensor& images,
                                    const at::Tensor& has_image) {
  at::Tensor tokens = tokens_in.clamp(0, options.vocab - 1);
  const int64_t U = tokens.size(0), L = tokens.size(1);
  const auto dev = tokens.device();
  // Field type per position: [CLS] is 0; field k's tokens and the [SEP] closing it are k.
  at::Tensor sep = tokens.eq(kSepToken).to(at::kLong);
  at::Tensor types = (at::cumsum(sep, 1) - sep + 1).clamp_max(options.text_fields);
  types.select(1, 0).fill_(0);
  at::Tensor pos = at::arange(L, at::TensorOptions().dtype(at::kLong).device(dev));
  at::Tensor x = token_emb(tokens) + pos_emb(pos).unsqueeze(0) + type_emb(types);
  at::Tensor pad = tokens.eq(0);
  if (patches > 0 && images.defined()) {
    const int64_t P = options.encoder.patch, H = options.image_h, Wd = options.image_w, C = options.image_c;
    at::Tensor img = images.to(x.scalar_type()).div(255.0).sub(0.5);
    // [U, H, W, C] -> [U, H/P, P, W/P, P, C] -> [U, H/P, W/P, P, P, C] -> [U, patches, P*P*C]
    img = img.view({U, H / P, P, Wd / P, P, C}).permute({0, 1, 3, 2, 4, 5}).reshape({U, patches, P * P * C});
    at::Tensor img_type = at::full({1}, options.text_fields + 1, at::TensorOptions().dtype(at::kLong).device(dev));
    at::Tensor px = patch_proj(img) + patch_pos.unsqueeze(0) + type_emb(img_type).view({1, 1, -1});
    x = at::cat({x, px}, 1);
    at::Tensor missing = has_image.defined() ? has_image.logical_not() : at::zeros({U}, at::TensorOptions().dtype(at::kBool).device(dev));
    pad = at::cat({pad, missing.view({U, 1}).expand({U, patches})}, 1);
  }
  for (const auto& layer : *layers) x = layer->as<EncoderLayer>()->forward(x, pad);
  at::Tensor cls = final_ln(x.select(1, 0));
  return l2_normalize(out(cls));
}

}  // namespace lemur::model

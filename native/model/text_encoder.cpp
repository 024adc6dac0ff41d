#include "model/text_encoder.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/js_error.h"
#include "ops/ragged_attention/ragged_attention.h"

namespace lemur::model {

namespace {
constexpr int64_t kSepToken = 2;
}

EncoderLayerImpl::EncoderLayerImpl(int64_t width, int64_t heads_, int64_t ffn_mult, double dropout_)
    : heads(heads_), dropout(dropout_) {
  if (width % heads != 0)
    throw UserError("encoder width " + std::to_string(width) + " is not divisible by heads " + std::to_string(heads));
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  qkv = register_module("qkv", torch::nn::Linear(width, 3 * width));
  proj = register_module("proj", torch::nn::Linear(width, width));
  ffn = register_module("ffn", FeedForward(width, ffn_mult * width, width));
}

at::Tensor EncoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& offsets) {
  const int64_t T = x.size(0), W = x.size(1), dh = W / heads;
  // the fused projection whole: attention reads q, k and v in it and writes its gradient packed
  at::Tensor packed = project(qkv, normalize(ln1, x)).view({T, 3, heads, dh});
  at::Tensor ctx = ops::ragged_self_attention(packed, offsets, 1.0 / std::sqrt(static_cast<double>(dh)));
  return residual_and_ffn(x, ctx);
}

at::Tensor EncoderLayerImpl::forward_first(const at::Tensor& x, const at::Tensor& offsets) {
  const int64_t T = x.size(0), W = x.size(1), dh = W / heads, B = offsets.size(0) - 1;
  at::Tensor first = offsets.slice(0, 0, B);
  at::Tensor h_all = normalize(ln1, x);
  const at::Tensor& w = qkv->weight;  // rows: q, k, v
  const at::Tensor& b = qkv->bias;
  at::Tensor q = ops::linear(h_all.index_select(0, first), w.narrow(0, 0, W), b.narrow(0, 0, W)).view({B, heads, dh});
  at::Tensor kv = ops::linear(h_all, w.narrow(0, W, 2 * W), b.narrow(0, W, 2 * W)).view({T, 2, heads, dh});
  at::Tensor q_offsets = at::arange(B + 1, offsets.options());
  at::Tensor ctx = ops::ragged_attention_packed_kv(q, kv, q_offsets, offsets, 1.0 / std::sqrt(static_cast<double>(dh)));
  return residual_and_ffn(x.index_select(0, first), ctx);
}

at::Tensor EncoderLayerImpl::residual_and_ffn(const at::Tensor& x, const at::Tensor& ctx) {
  const bool drop = dropout > 0 && is_training();
  at::Tensor a = project(proj, ctx.reshape({x.size(0), x.size(1)}));
  at::Tensor h = x + (drop ? at::dropout(a, dropout, true) : a);
  at::Tensor f = ffn(normalize(ln2, h));
  return h + (drop ? at::dropout(f, dropout, true) : f);
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
    layers->push_back(EncoderLayer(W, o.encoder.heads, o.encoder.ffn_mult, o.encoder.dropout));
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
  at::Tensor keep = tokens.ne(0);  // [U, L]: real tokens; [CLS] always is one
  if (patches > 0 && images.defined()) {
    const int64_t P = options.encoder.patch, H = options.image_h, Wd = options.image_w, C = options.image_c;
    at::Tensor img = images.to(x.scalar_type()).div(255.0).sub(0.5);
    // [U, H, W, C] -> [U, H/P, P, W/P, P, C] -> [U, H/P, W/P, P, P, C] -> [U, patches, P*P*C]
    img = img.view({U, H / P, P, Wd / P, P, C}).permute({0, 1, 3, 2, 4, 5}).reshape({U, patches, P * P * C});
    at::Tensor img_type = at::full({1}, options.text_fields + 1, at::TensorOptions().dtype(at::kLong).device(dev));
    at::Tensor px = project(patch_proj, img) + patch_pos.unsqueeze(0) + type_emb(img_type).view({1, 1, -1});
    x = at::cat({x, px}, 1);
    at::Tensor present = has_image.defined() ? has_image.to(at::kBool) : at::ones({U}, at::TensorOptions().dtype(at::kBool).device(dev));
    keep = at::cat({keep, present.view({U, 1}).expand({U, patches})}, 1);
  }
  // Pack: the kept tokens of every document back to back, each document's [CLS] first.
  at::Tensor lengths = keep.sum(1);
  at::Tensor offsets = at::cat({at::zeros({1}, lengths.options()), at::cumsum(lengths, 0)});
  at::Tensor packed = x.reshape({-1, x.size(2)}).index_select(0, keep.reshape({-1}).nonzero().squeeze(1));
  if (options.encoder.dropout > 0 && is_training()) packed = at::dropout(packed, options.encoder.dropout, true);
  // [CLS] is the only output read: the last layer computes it alone.
  const int64_t n = static_cast<int64_t>(layers->size());
  for (int64_t i = 0; i + 1 < n; ++i) packed = layers[i]->as<EncoderLayer>()->forward(packed, offsets);
  at::Tensor cls = n > 0 ? layers[n - 1]->as<EncoderLayer>()->forward_first(packed, offsets)
                         : packed.index_select(0, offsets.slice(0, 0, U));
  cls = normalize(final_ln, cls);
  return l2_normalize(project(out, cls));
}

}  // namespace lemur::model

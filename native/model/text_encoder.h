// The query and document encoders: bidirectional pre-LN Transformers over token ids, with
// token + position + field-type embeddings, [CLS] pooled and projected to the embedding
// size, L2-normalized. The document encoder also takes an image as patch tokens appended as
// their own field (own type embedding); documents without an image have no patch tokens.
// Padding is dropped before the first layer: the tokens of all documents are packed into one
// ragged batch and attention runs per document (ops::ragged_attention), so neither compute
// nor memory is spent on padding, and no batched matmul runs over thousands of tiny
// per-(document, head) matrices. Only [CLS] is read out, so the last layer computes its
// output for [CLS] alone (EncoderLayer::forward_first).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "model/config.h"
#include "model/layers.h"

namespace lemur::model {

struct TextEncoderOptions {
  int64_t vocab = 0, max_tokens = 0, text_fields = 1, out_dim = 128;
  int64_t image_h = 0, image_w = 0, image_c = 0;  // 0: no image input
  EncoderConfig encoder;
};

// One pre-LN Transformer layer over packed tokens x [T, W] of ragged sequences (offsets).
struct EncoderLayerImpl : torch::nn::Module {
  EncoderLayerImpl(int64_t width, int64_t heads, int64_t ffn_mult, double dropout = 0.0);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& offsets);
  // The same layer's output at the first token of each sequence only ([CLS], rows
  // offsets[0..B-1]) -> [B, W]: the last layer, whose other outputs nothing reads. Keys and
  // values still come from every token; the query projection, the output projection and the
  // FFN run on B rows instead of T (in a 2-layer encoder, about 40% of its matmul FLOPs).
  at::Tensor forward_first(const at::Tensor& x, const at::Tensor& offsets);
  // x + proj(ctx), then + FFN: what both take after attention (rows of x and ctx match).
  at::Tensor residual_and_ffn(const at::Tensor& x, const at::Tensor& ctx);
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  FeedForward ffn{nullptr};
  int64_t heads;
  double dropout;
};
TORCH_MODULE(EncoderLayer);

struct TextEncoderImpl : torch::nn::Module {
  explicit TextEncoderImpl(const TextEncoderOptions& options);
  // tokens [U, L] int64 ([CLS] first, 0 = padding); images [U, H, W, C] uint8 and has_image
  // [U] bool, or undefined. -> [U, out_dim], unit norm.
  at::Tensor forward(const at::Tensor& tokens, const at::Tensor& images = {},
                     const at::Tensor& has_image = {});

  TextEncoderOptions options;
  int64_t patches = 0;
  torch::nn::Embedding token_emb{nullptr}, pos_emb{nullptr}, type_emb{nullptr};
  torch::nn::Linear patch_proj{nullptr}, out{nullptr};
  at::Tensor patch_pos;  // [patches, width]
  torch::nn::ModuleList layers;
  torch::nn::LayerNorm final_ln{nullptr};
};
TORCH_MODULE(TextEncoder);

}  // namespace lemur::model

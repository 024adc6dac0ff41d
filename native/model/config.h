// The model configuration as the native side receives it. The TypeScript layer owns the
// defaults, presets and validation (lib/config.ts); this mirrors its fields one to one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lemur::model {

struct EncoderConfig {
  bool enabled = false;
  int64_t layers = 2, width = 64, heads = 4, ffn_mult = 4;
  int64_t patch = 8;     // image patch size (document encoder with images)
  double dropout = 0.0;  // on the embeddings and each residual branch, while training
};

struct SequenceConfig {
  std::string name;    // this view's name, e.g. "short"
  std::string column;  // the dataset's sequence column, e.g. "liked"
  int64_t max_length = 50;
  bool use_action = false, use_age = false;  // side info of each event
  // ID path: events as document-ID embeddings through a sequence encoder
  // ("longer" | "swiglu" | "transformer" | "none").
  std::string id_encoder = "none";
  // Multimodal path: events as memory-bank rows through the LEMUR decoder.
  bool bank = false;
  bool similarity = false;  // cosine(target, each recent event) features
};

struct DecoderConfig {  // the LEMUR multimodal sequence decoder (cross-attention only)
  int64_t layers = 2, heads = 4, queries = 4, ffn_mult = 2, width = 64;
  bool fused = true;  // read history straight from the bank (no materialized rows)
  // What the global query tokens are generated from: "context" (request features, query and
  // target-document embeddings: target-aware) or "request" (without the target document).
  std::string queries_from = "context";
  // LayerNorm over each history row (with its side info) before attention: unit-norm bank
  // rows have entries of about 1/sqrt(e). Forces the unfused path.
  bool memory_norm = false;
};

struct LongerConfig {  // LONGER-style encoder of ID sequences
  int64_t layers = 2, heads = 4, global_tokens = 2, recent = 8, ffn_mult = 2, width = 64;
};

struct BackboneConfig {
  std::string type = "rankmixer";  // "mlp" | "rankmixer" | "hyformer"
  int64_t tokens = 8, width = 64, layers = 2, ffn_mult = 2;
  std::vector<int64_t> mlp_hidden{256, 128};  // the head (and the whole "mlp" backbone)
  // HyFormer
  int64_t queries_per_sequence = 1, ns_tokens = 6;
  std::string sequence_encoder = "longer";  // "transformer" | "longer" | "swiglu"
  int64_t recent = 8;                       // LONGER-style: queries from the k most recent
};

struct LossConfig {
  double sqdc_weight = 0.1, temperature = 50.0;
  bool same_query_mask = true;
};

struct OptimConfig {
  double lr = 1e-3, encoder_lr = 5e-4, weight_decay = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t warmup_steps = 100;
  double clip_norm = 1.0;
  std::string sparse = "adagrad";  // "adagrad" | "adam" (row-wise)
  double sparse_lr = 0.05, sparse_eps = 1e-8;
  // A step whose loss or gradient is not finite: "error" stops training with the step named
  // (nothing is updated), "skip" leaves every parameter and optimizer state as it was and
  // counts the step as skipped.
  std::string non_finite = "error";
};

struct CategoricalFeature {
  std::string name;
  int64_t buckets;  // table rows; ids are hashed into them when the cardinality is larger
};

struct ModelConfig {
  // From the dataset.
  int64_t num_documents = 0, num_users = 0, vocab_size = 0;
  int64_t doc_tokens = 0, query_tokens = 0, text_fields = 1;
  int64_t image_h = 0, image_w = 0, image_c = 0;
  std::vector<CategoricalFeature> categorical;
  std::vector<CategoricalFeature> doc_categorical;  // the candidate document's own categorical fields
  int64_t dense = 0;
  int64_t action_types = 16;

  // Features and embeddings.
  int64_t embedding_dim = 128;  // e: query/document embeddings and bank rows
  int64_t id_dim = 16;
  bool user_id = true, doc_id = true;
  // cos(query embedding, target-document embedding) as a ranking feature: the two-tower
  // relevance SQDC trains, which an MLP or RankMixer cannot easily form from the two vectors.
  bool query_doc_similarity = true;
  // Training samples whose candidate document ID embedding is dropped (read as unknown), so
  // the ranker learns what to do for documents it has no ID embedding for (cold start).
  double doc_id_dropout = 0.1;
  int64_t user_buckets = 0, doc_buckets = 0;  // 0: one row per user/document

  EncoderConfig query_encoder, doc_encoder;
  double encode_forward = 1.0, encode_backward = 1.0;  // encoder sampling p, q
  bool stop_gradient = false;
  std::string fresh_in_batch = "detached";  // "detached" | "gradient" | "off"
  std::string bank_dtype = "float32";       // "float32" | "bfloat16"
  bool bank = false;
  // "bank": history events are read from the memory bank. "encode": every history event is
  // re-encoded by the document encoder each step (what the bank exists to avoid; for
  // comparison and benchmarks).
  std::string history_source = "bank";
  int64_t similarity_length = 16;

  std::vector<SequenceConfig> sequences;
  DecoderConfig decoder;
  LongerConfig longer;
  BackboneConfig backbone;
  LossConfig loss;
  OptimConfig optim;
  // Two-stage: encoders trained with SQDC alone for this many steps (their own budget,
  // counted apart from the ranker's steps), then frozen and every document indexed.
  int64_t pretrain_steps = 0;

  std::string device = "cpu";
  bool bf16 = false;  // bf16 autocast on CUDA
  uint64_t seed = 0;
  // Row-wise sharding of the ID tables in a data-parallel job: this rank owns block
  // `table_shard_rank` of `table_shard_count` of every table (1: each rank holds every row).
  int table_shard_rank = 0, table_shard_count = 1;
  // The memory bank sharded by document id the same way.
  int bank_shard_rank = 0, bank_shard_count = 1;

  bool has_query_text() const { return query_encoder.enabled && query_tokens > 0; }
  bool has_images() const { return doc_encoder.enabled && image_h > 0; }
  bool uses_content() const { return doc_encoder.enabled; }
};

}  // namespace lemur::model

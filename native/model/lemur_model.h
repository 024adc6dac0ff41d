// The LEMUR model: ID features, query and document encoders, memory bank, multimodal
// sequence decoders, ID-sequence encoders, similarity features, and a ranking backbone
// (MLP, RankMixer or HyFormer). Which parts exist is the configuration: the presets of the
// paper's ladder are configurations of this one module.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <random>

#include "data/batch.h"
#include "data/dataset.h"
#include "model/config.h"
#include "model/embedding_tables.h"
#include "model/hyformer.h"
#include "model/layers.h"
#include "model/memory_bank.h"
#include "model/rank_mixer.h"
#include "model/sequence_modules.h"
#include "model/text_encoder.h"

namespace lemur::dist {
class ProcessGroup;
}

namespace lemur::model {

struct ForwardMode {
  bool train = true;
  bool ranking = true;         // false: encoders only (two-stage pre-training)
  bool encode_missing = true;  // outside training: encode documents the bank lacks (else zeros)
};

struct ForwardOutput {
  at::Tensor logits;  // [B] (undefined when !ranking)
  at::Tensor q, d;    // [B, e] query and target-document embeddings (undefined without content)
  // Freshness "off": this step's bank write, applied after the backward pass (the fused
  // attention saved the bank as it read it).
  at::Tensor deferred_write_ids, deferred_write_rows;
  int64_t unique_docs = 0, encoded = 0, encoded_with_grad = 0, target_misses = 0;
  double t_encoder = 0, t_bank = 0, t_backbone = 0;  // seconds
};

// What the stages of one forward pass hand each other (lemur_model.cpp, "stage by stage").
struct IdFeatures {
  at::Tensor ns_ids;                     // [B, ns_id_dim] non-sequential ID embeddings, concatenated
  at::Tensor dense;                      // [B, dense] request features
  std::vector<at::Tensor> doc_seq_emb;   // per sequence: ID embeddings of its events (ID path only)
};
struct TargetPlan {                      // the batch's unique documents before encoding
  at::Tensor d_u;                        // [U, e] bank rows (zeros where missing)
  at::Tensor present;                    // [U] bool: in the bank
  at::Tensor encode, grad;               // [U] bool: encode this step, with gradient
};
struct TargetContent {                   // after encoding
  at::Tensor d_u;                        // [U, e] bank rows with this step's encodings put in
  at::Tensor enc_idx, idx_grad;          // positions in U encoded (with gradient)
  at::Tensor v_grad;                     // [idx_grad, e] the encodings with gradient
  // "gradient" freshness: the documents whose history reads take their with-gradient
  // encoding this step, and those encodings. One process: this batch's (U[idx_grad], v_grad);
  // data-parallel: every rank's (the ids from the dedup's exchange, the rows gathered with a
  // backward), as one process with the whole batch.
  at::Tensor fresh_ids, fresh_rows;
};
struct SequenceInputs {
  const IdFeatures& ids;
  const TargetContent& targets;
  const at::Tensor& context;             // request + query + target (+ cosine)
  const at::Tensor& decoder_context;     // what the sequence decoders' queries come from
  const at::Tensor& d_rank;              // the target embedding the ranker sees
};
struct SequenceFeatures {
  std::vector<at::Tensor> tokens;        // [B, *] per sequence module (decoders, ID encoders)
  std::vector<at::Tensor> similarity;    // [B, *] similarity features
  std::vector<HyFormerSequence> hyformer;  // HyFormer's per-sequence inputs
};

struct LemurModelImpl : torch::nn::Module {
  explicit LemurModelImpl(const ModelConfig& config);

  ForwardOutput forward(const data::Batch& batch, const data::DocumentTable& docs, const ForwardMode& mode,
                        int64_t step, std::mt19937_64& rng);

  // Document embeddings, no gradient, in chunks (indexing, probes, export). ids on any device.
  at::Tensor encode_documents(const at::Tensor& ids, const data::DocumentTable& docs, int64_t chunk = 512);
  // Encodes the documents and writes them into the bank (what a serving indexer does).
  void index_documents(const at::Tensor& ids, const data::DocumentTable& docs, int64_t step);
  // Mean cosine between bank rows and fresh encodings of up to n written documents.
  double staleness_probe(int64_t n, const data::DocumentTable& docs, std::mt19937_64& rng);

  // Two-stage: stop training the encoders (and the request tower).
  void freeze_encoders();
  bool encoders_frozen() const { return frozen_; }
  std::vector<at::Tensor> encoder_parameters();
  std::vector<at::Tensor> other_parameters();

  ModelConfig config;
  at::Device device;
  // Data-parallel training: this step's bank writes go to every rank (set by the Trainer).
  dist::ProcessGroup* group = nullptr;
  EmbeddingTables tables{nullptr};
  int t_user = -1, t_doc = -1;
  std::vector<int> t_cat, t_doc_cat;
  // The documents' categorical fields [num_documents, C] on the model's device (set_documents).
  at::Tensor doc_categorical;
  void set_documents(const data::DocumentTable& docs);
  TextEncoder query_encoder{nullptr}, doc_encoder{nullptr};
  FeedForward request_tower{nullptr};
  MemoryBank bank{nullptr};
  torch::nn::ModuleList decoders, id_encoders, similarities;
  std::vector<int> decoder_of, id_encoder_of, similarity_of;  // per sequence: index or -1
  MlpHead mlp{nullptr};
  RankMixer rankmixer{nullptr};
  HyFormer hyformer{nullptr};

 private:
  at::Tensor query_embedding(const data::Batch& b, const at::Tensor& ns_ids, const at::Tensor& dense, bool train);
  at::Tensor encode_content(const at::Tensor& ids, const data::DocumentTable& docs);
  int64_t ns_id_dim() const;
  // The stages of forward().
  IdFeatures id_features(const data::Batch& b, bool train, std::mt19937_64& rng);
  TargetPlan plan_targets(const data::Batch& b, const ForwardMode& mode, std::mt19937_64& rng, ForwardOutput& out);
  TargetContent encode_targets(const data::Batch& b, const data::DocumentTable& docs, const TargetPlan& plan, ForwardOutput& out);
  // Data-parallel training: the paper's all_gather + Dedup Join. A document several ranks
  // need in one step is encoded once, by one of them, and its vector sent to the others
  // (all-to-all, gradients back to the encoding rank).
  TargetContent encode_targets_across_ranks(const data::Batch& b, const data::DocumentTable& docs, const TargetPlan& plan,
                                            ForwardOutput& out);
  void gather_fresh(const data::Batch& b, const ForwardMode& mode, TargetContent& t);
  void write_targets(const data::Batch& b, const ForwardMode& mode, int64_t step, const TargetContent& t);
  SequenceFeatures sequence_features(const data::Batch& b, const data::DocumentTable& docs, const ForwardMode& mode,
                                     const SequenceInputs& in, double& t_enc);
  at::Tensor rank(const at::Tensor& context, const SequenceFeatures& f);
  at::Tensor rank_ids_only(const data::Batch& b, const IdFeatures& ids);
  bool frozen_ = false;
  at::Tensor fresh_slot_;  // [num_documents] int64, -1 except during a "gradient"-freshness step
};
TORCH_MODULE(LemurModel);

}  // namespace lemur::model

// Training and inference around a LemurModel: optimizers (AdamW for dense parameters with a
// separate encoder learning rate and warm-up; the row-wise sparse optimizer for ID tables),
// gradient clipping, bf16 autocast on CUDA, two-stage pre-training, checkpoints. Every
// public call is one unit of work run on the model's executor thread.
#pragma once
#include <torch/optim/adamw.h>

#include <memory>
#include <random>
#include <string>

#include "data/batch_loader.h"
#include "data/dataset.h"
#include "distributed/gradient_reducer.h"
#include "distributed/process_group.h"
#include "model/fused_adamw.h"
#include "model/lemur_model.h"

namespace lemur::model {

struct StepStats {
  bool done = false;     // the loader's epoch ended (no step was taken)
  bool skipped = false;  // non-finite loss or gradient, optim.nonFinite "skip": nothing updated
  bool stop = false;     // some rank of the job asked to stop after this step (every rank sees it)
  int64_t step = 0;      // steps of this phase taken so far (after this one)
  int64_t samples = 0;
  double loss = 0, bce = 0, sqdc = 0, lr = 0, grad_norm = 0;
  double encoder_grad_norm = 0;  // of the content encoders' parameters, before clipping
  double query_grad_norm = 0;    // its query side: the query encoder or the request tower
  double document_grad_norm = 0;  // its document encoder
  std::string phase;  // "pretrain" | "train"
  int64_t unique_docs = 0, encoded = 0, encoded_with_grad = 0, target_misses = 0;
  double t_data = 0, t_encoder = 0, t_bank = 0, t_backbone = 0, t_backward = 0, t_communication = 0, t_optimizer = 0, t_total = 0;
};

struct PredictBatch {
  bool done = false;
  at::Tensor scores;  // [B] float32 probabilities
  at::Tensor logits, labels, rows, query, user, doc, cold;
  at::Tensor query_embeddings;  // [B, e] float32 (models with content encoders)
  int64_t target_misses = 0;
};

struct BankStats {
  BankCoverage coverage;
  int64_t rows = 0, written = 0, held = 0;
  double mean_age = 0;
};

class Trainer {
 public:
  Trainer(const ModelConfig& config, std::shared_ptr<const data::DocumentTable> documents);

  // One ranking step (BCE + lambda SQDC). With two-stage pre-training configured, the first
  // one freezes the encoders and indexes every document first.
  // `stop`: this rank was asked to stop (Ctrl-C); in a job the ranks agree on it within the
  // step, so all of them stop after the same one.
  StepStats train_step(data::BatchLoader& loader, bool stop = false);
  // One two-stage pre-training step: the encoders alone, SQDC only. Counted apart.
  StepStats pretrain_step(data::BatchLoader& loader, bool stop = false);
  // predict: from the bank only (misses score with a zero document vector, as an unindexed
  // document would online); evaluate (encode_missing): documents the bank lacks are encoded.
  PredictBatch predict_step(data::BatchLoader& loader, bool encode_missing);

  BankStats bank_stats(bool reset_coverage);
  double staleness(int64_t probe);
  void index_documents(const at::Tensor& ids);  // all documents when undefined
  at::Tensor document_embeddings(const at::Tensor& ids, bool from_bank);

  // Checkpoint of parameters, ID tables, memory bank, optimizer state and step. With
  // sharded tables or bank, model.pt holds the rest and each rank writes its rows with
  // save_shard() into shard-<r>-of-<n>.pt beside it; load() assembles this model's rows from
  // the shard files that hold them, whatever its own sharding (re-sharding at another
  // world size, or one process).
  void save(const std::string& path);
  void save_shard(const std::string& path);
  void load(const std::string& path);
  static std::string shard_file_name(int rank, int count);

  // Data-parallel training: joins the group (rendezvous, then the fingerprints of every
  // rank's configuration and dataset are compared and rank 0's state is copied to all).
  // From then on each step averages gradients, merges ID-table rows and bank writes across
  // ranks, and SQDC contrasts against the whole world's batch.
  void join_group(const dist::GroupOptions& options, const std::string& fingerprint);
  dist::ProcessGroup* group() { return group_.get(); }
  void barrier(const std::string& what);
  // Every rank's rows, concatenated in rank order (no group: the rows themselves).
  at::Tensor allgather(const at::Tensor& rows);

  int64_t step() const { return step_; }
  int64_t pretrain_step_count() const { return pretrain_step_; }
  const ModelConfig& config() const { return config_; }
  LemurModel& model() { return model_; }
  int64_t parameter_count();           // dense parameters
  // FNV-1a over the bytes of every dense parameter: equal on all ranks of a job after every
  // step (the tests compare them).
  std::string parameter_digest();
  int64_t id_table_parameter_count();  // rows x dim of the ID tables

 private:
  void build_optimizer();
  void load_shards(const std::string& path, int count);
  double learning_rate_scale(int64_t step) const;
  std::mt19937_64 rng_for_step(uint64_t salt) const;
  void enter_ranking_phase();
  StepStats step_impl(data::BatchLoader& loader, bool pretrain, bool stop);

  ModelConfig config_;
  std::shared_ptr<const data::DocumentTable> documents_;
  LemurModel model_{nullptr};
  std::unique_ptr<FusedAdamW> optimizer_;
  std::vector<at::Tensor> clip_params_;
  int64_t step_ = 0;           // ranking steps
  int64_t pretrain_step_ = 0;  // two-stage pre-training steps
  std::shared_ptr<dist::ProcessGroup> group_;
  bool global_negatives_ = true, overlap_ = true;
  std::unique_ptr<dist::GradientReducer> reducer_;
};

}  // namespace lemur::model

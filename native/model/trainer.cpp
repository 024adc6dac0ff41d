#include "model/trainer.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/serialize.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "core/allocator.h"
#include "core/js_error.h"
#include "distributed/all_gather_autograd.h"
#include "distributed/data_parallel.h"
#include "model/losses.h"

#ifdef LEMUR_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace lemur::model {

namespace {

using Clock = std::chrono::steady_clock;

// Steps between returns of free host memory to the system (see core/allocator.h): often
// enough that fragmentation cannot pile up, rarely enough that re-faulting pages is noise.
constexpr int64_t kTrimEverySteps = 100;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A number as JavaScript would print it: NaN, Infinity, -Infinity, else %g.
std::string js_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void sync(const at::Device& d) {
#ifdef LEMUR_WITH_CUDA
  if (d.is_cuda()) at::cuda::getCurrentCUDAStream(d.index()).synchronize();
#endif
}

// bf16 autocast for the forward pass on CUDA (thread-local, so set on the executor thread).
struct AutocastScope {
  bool on;
  explicit AutocastScope(bool enable) : on(enable) {
    if (!on) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
  }
  ~AutocastScope() {
    if (!on) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
  }
};

}  // namespace

Trainer::Trainer(const ModelConfig& config, std::shared_ptr<const data::DocumentTable> documents)
    : config_(config), documents_(std::move(documents)) {
  if (config_.uses_content() && !documents_) throw UserError("a model with content encoders needs the documents table");
  torch::manual_seed(config_.seed);  // parameter initialization
  model_ = LemurModel(config_);
  if (documents_) model_->set_documents(*documents_);
  else if (!config_.doc_categorical.empty()) throw UserError("document categorical features need the documents table");
  build_optimizer();
}

void Trainer::build_optimizer() {
  // Groups: (other, decay), (other, no decay), (encoders, decay), (encoders, no decay).
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto split = [&](const std::vector<at::Tensor>& params, double lr) {
    std::vector<at::Tensor> decay, no_decay;
    for (const auto& p : params) (p.dim() >= 2 ? decay : no_decay).push_back(p);
    for (int i = 0; i < 2; ++i) {
      auto opts = std::make_unique<torch::optim::AdamWOptions>(lr);
      opts->betas({config_.optim.beta1, config_.optim.beta2}).eps(config_.optim.eps)
          .weight_decay(i == 0 ? config_.optim.weight_decay : 0.0);
      groups.emplace_back(i == 0 ? decay : no_decay, std::move(opts));
    }
  };
  split(model_->other_parameters(), config_.optim.lr);
  split(model_->encoder_parameters(), config_.optim.encoder_lr);
  optimizer_ = std::make_unique<FusedAdamW>(groups, torch::optim::AdamWOptions(config_.optim.lr));
  clip_params_ = model_->parameters();
}

void Trainer::join_group(const dist::GroupOptions& asked, const std::string& fingerprint) {
  if (group_) throw UserError("distributed: this model already joined a group (rank " + std::to_string(group_->rank()) + ")");
  dist::GroupOptions options = asked;
  options.device_index = model_->device.is_cuda() ? static_cast<int>(model_->device.index() < 0 ? 0 : model_->device.index()) : -1;
  // One group per process and job: models trained one after the other (a comparison run)
  // reuse it, since the rendezvous port stays taken while its store lives. A new group is
  // made outside the lock: its rendezvous blocks until every rank arrives, and ranks that
  // share a process (one model per rank, each on its own executor thread) must not wait on
  // each other's lock.
  static std::mutex shared_mu;
  static std::shared_ptr<dist::ProcessGroup> shared;
  std::shared_ptr<dist::ProcessGroup> group;
  {
    std::lock_guard<std::mutex> lock(shared_mu);
    const auto& so = shared ? shared->options() : options;
    if (shared && so.rank == options.rank && so.world_size == options.world_size && so.master_addr == options.master_addr &&
        so.master_port == options.master_port && so.backend == dist::resolved_backend(options) && so.exercise == options.exercise)
      group = shared;
  }
  if (!group) {
    group = std::make_shared<dist::ProcessGroup>(options);
    std::lock_guard<std::mutex> lock(shared_mu);
    shared = group;
  }
  const int64_t mine = static_cast<int64_t>(std::hash<std::string>{}(fingerprint) & 0x7FFFFFFFFFFFFFFFLL);
  std::vector<int64_t> all = group->allgather_values({mine, step_, pretrain_step_}, "start-up");
  for (int r = 0; r < group->world_size(); ++r) {
    if (all[r * 3] != all[0])
      throw UserError("distributed: rank " + std::to_string(r) + "'s configuration or dataset differs from rank 0's "
                      "(fingerprints " + std::to_string(all[r * 3]) + " and " + std::to_string(all[0]) +
                      "): every rank must train the same model on the same dataset");
    if (all[r * 3 + 1] != all[1] || all[r * 3 + 2] != all[2])
      throw UserError("distributed: rank " + std::to_string(r) + " is at step " + std::to_string(all[r * 3 + 1]) +
                      " (pre-training " + std::to_string(all[r * 3 + 2]) + "), rank 0 at step " + std::to_string(all[1]) +
                      " (pre-training " + std::to_string(all[2]) + "): resume every rank from the same checkpoint");
  }
  auto check = [&](const TableSharding& sh, const char* what) {
    if (sh.count > 1 && (sh.count != group->world_size() || sh.rank != group->rank()))
      throw UserError(std::string("distributed: this model's ") + what + " is sharded for rank " + std::to_string(sh.rank) +
                      " of " + std::to_string(sh.count) + ", but it joins as rank " + std::to_string(group->rank()) + " of " +
                      std::to_string(group->world_size()));
  };
  auto& tables = *model_->tables;
  check(tables.sharding(), "ID tables");
  std::vector<at::Tensor> own = tables.sharded() ? tables.table_buffers() : std::vector<at::Tensor>{};
  if (!model_->bank.is_empty()) {
    check(model_->bank->sharding(), "memory bank");
    if (model_->bank->sharded())
      for (auto& t : model_->bank->bank_buffers()) own.push_back(t);
  }
  dist::broadcast_module(*group, *model_, own);
  group_ = std::move(group);
  global_negatives_ = options.global_negatives;
  overlap_ = options.overlap;
  model_->group = group_->world_size() > 1 ? group_.get() : nullptr;
  if (tables.sharded()) tables.connect(group_.get());
  if (!model_->bank.is_empty() && model_->bank->sharded()) model_->bank->connect(group_.get());
  group_->set_step(step_ + pretrain_step_);
}

void Trainer::barrier(const std::string& what) {
  if (group_) group_->barrier(what);
}

at::Tensor Trainer::allgather(const at::Tensor& rows) {
  return group_ ? group_->allgather_rows(rows, nullptr, "evaluation") : rows;
}

double Trainer::learning_rate_scale(int64_t step) const {
  const int64_t w = config_.optim.warmup_steps;
  return w > 0 ? std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(w)) : 1.0;
}

std::mt19937_64 Trainer::rng_for_step(uint64_t salt) const {
  // a function of (seed, steps of both phases): a resumed run draws exactly what the
  // uninterrupted one did
  return std::mt19937_64(config_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(step_) * 0xBF58476D1CE4E5B9ULL +
                         static_cast<uint64_t>(pretrain_step_) * 0x94D049BB133111EBULL + salt);
}

void Trainer::enter_ranking_phase() {
  // Two-stage: the encoders pre-trained with SQDC are frozen; every document is indexed
  // into the bank with them, and the ranker trains on those fixed embeddings.
  model_->freeze_encoders();
  if (!model_->bank.is_empty()) index_documents(at::Tensor());
}

StepStats Trainer::train_step(data::BatchLoader& loader, bool stop) { return step_impl(loader, false, stop); }

StepStats Trainer::pretrain_step(data::BatchLoader& loader, bool stop) {
  if (config_.pretrain_steps <= 0 || !config_.uses_content())
    throw UserError("pre-training needs the content encoders and twoStage.pretrainSteps > 0");
  if (model_->encoders_frozen())
    throw UserError("the encoders are frozen: pre-training ended (the ranker has started training)");
  return step_impl(loader, true, stop);
}

StepStats Trainer::step_impl(data::BatchLoader& loader, bool pretrain, bool stop) {
  StepStats st;
  st.stop = stop;
  auto t_start = Clock::now();
  data::Batch host;
  if (!loader.next(host)) {
    st.done = true;
    st.step = pretrain ? pretrain_step_ : step_;
    return st;
  }
  st.t_data = loader.take_wait_seconds();
  const at::Device dev = model_->device;
  data::Batch b = host.to(dev);
  if (!pretrain && config_.pretrain_steps > 0 && !model_->encoders_frozen()) enter_ranking_phase();
  st.phase = pretrain ? "pretrain" : "train";
  model_->train();
  auto rng = rng_for_step(1);
  // torch's own generator (dropout) drawn from (seed, step) too: resumed runs stay exact
  torch::manual_seed(rng_for_step(4)() + (group_ ? static_cast<uint64_t>(group_->rank()) : 0));
  dist::ProcessGroup* dp = group_ && group_->world_size() > 1 ? group_.get() : nullptr;
  if (dp) dp->set_step(step_ + pretrain_step_ + 1);
  const int64_t phase_step = pretrain ? pretrain_step_ : step_;

  ForwardOutput out;
  at::Tensor loss, bce, sqdc;
  {
    AutocastScope autocast(config_.bf16 && dev.is_cuda());
    out = model_->forward(b, *documents_, ForwardMode{true, !pretrain, true}, step_, rng);
    const bool with_sqdc = out.q.defined() && (pretrain || config_.loss.sqdc_weight > 0) && !model_->encoders_frozen();
    if (with_sqdc && dp && global_negatives_) {
      // Global negatives: the whole world's batch in one contrast, the same on every rank.
      at::Tensor q_all = dist::all_gather_with_grad(*dp, out.q, "sqdc");
      at::Tensor d_all = dist::all_gather_with_grad(*dp, out.d, "sqdc");
      at::Tensor label_all = dp->allgather_rows(b.label, nullptr, "sqdc").to(dev);
      at::Tensor query_all = dp->allgather_rows(b.query, nullptr, "sqdc").to(dev);
      sqdc = sqdc_loss(q_all, d_all, label_all, query_all, config_.loss.temperature, config_.loss.same_query_mask);
    } else if (with_sqdc) {
      sqdc = sqdc_loss(out.q, out.d, b.label, b.query, config_.loss.temperature, config_.loss.same_query_mask);
    }
    if (pretrain) {
      loss = sqdc.defined() ? sqdc : at::zeros({}, at::TensorOptions().device(dev));
    } else {
      bce = bce_loss(out.logits, b.label);
      // Sharded: this rank's mean BCE weighted by its share of the global batch (x world size,
      // undone by the gradient average), so the step is that of the global batch's mean.
      at::Tensor bce_term = dp ? bce * (static_cast<double>(b.size) * dp->world_size() / b.global_size) : bce;
      loss = sqdc.defined() ? bce_term + config_.loss.sqdc_weight * sqdc : bce_term;
    }
  }
  auto t_bw = Clock::now();
  optimizer_->zero_grad();
  if (dp) {
    // (re)built for the parameters that train now (two-stage freezes the encoders)
    std::vector<at::Tensor> trainable;
    for (auto& p : clip_params_)
      if (p.requires_grad()) trainable.push_back(p);
    bool same = reducer_ && reducer_->params().size() == trainable.size();
    for (size_t i = 0; same && i < trainable.size(); ++i) same = reducer_->params()[i].is_same(trainable[i]);
    if (!same) {
      reducer_.reset();
      reducer_ = std::make_unique<dist::GradientReducer>(*dp, trainable);
    }
    reducer_->prepare(overlap_);
  }
  if (loss.requires_grad()) loss.backward();
  sync(dev);
  st.t_backward = since(t_bw);
  double t_comm = 0;
  at::Tensor world_sparse_sq;  // sharded tables: the ID rows' gradient norm over all ranks
  if (dp) {
    auto t_c = Clock::now();
    reducer_->finish();  // with overlap, most buckets went during backward
    const bool sharded = model_->tables->sharded();
    if (sharded) model_->tables->exchange_sharded_gradients();  // rows to their owners
    else dist::average_table_gradients(*dp, *model_->tables);
    // One small allreduce makes the figures below the world's: the global batch's mean BCE,
    // whether any rank was asked to stop, and (sharded tables) the norm of every rank's rows.
    at::Tensor sq = sharded ? model_->tables->grad_square_sum() : at::Tensor();
    std::vector<at::Tensor> part{at::tensor({bce.defined() ? bce.detach().item<double>() * b.size / b.global_size : 0.0, stop ? 1.0 : 0.0,
                                             sq.defined() ? sq.item<double>() : 0.0}, at::kDouble)};
    dp->allreduce_sum_(part, "dense");
    const double* w = part[0].data_ptr<double>();
    st.stop = w[1] > 0;
    if (sharded) world_sparse_sq = at::full({}, w[2], at::TensorOptions().dtype(at::kDouble).device(dev));
    if (bce.defined()) {
      bce = at::full({}, w[0], at::TensorOptions().dtype(at::kDouble).device(dev));
      loss = sqdc.defined() ? bce + config_.loss.sqdc_weight * sqdc.detach().to(at::kDouble) : bce;
    }
    t_comm = since(t_c);
  }
  st.t_communication = t_comm;
  auto t_opt = Clock::now();
  // One host sync for the loss, the whole gradient norm (dense and ID rows) and the
  // encoders' share of it: a non-finite one stops (or skips) the step before any update.
  std::vector<at::Tensor> with_grad;
  for (auto& p : clip_params_)
    if (p.grad().defined()) with_grad.push_back(p);
  // f: loss, encoders' square norm, dense square norm, ID rows' square norm, bce, sqdc, query
  // side's and document encoder's square norms.
  double f[8];
  auto& mdl = *model_;
  const torch::nn::Module* query_side = !mdl.query_encoder.is_empty() ? static_cast<const torch::nn::Module*>(mdl.query_encoder.get())
                                      : !mdl.request_tower.is_empty() ? static_cast<const torch::nn::Module*>(mdl.request_tower.get())
                                                                       : nullptr;
  const torch::nn::Module* doc_side = mdl.doc_encoder.is_empty() ? nullptr : mdl.doc_encoder.get();
  if (!dev.is_cuda()) {
    // On the host: one pass over each gradient, no tensors.
    std::unordered_map<const void*, double> sq;
    double all_sq = 0;
    for (auto& p : with_grad) all_sq += sq[p.unsafeGetTensorImpl()] = square_sum(p.grad());
    auto module_sq = [&](const torch::nn::Module* m) {  // its parameters are among with_grad's
      double s = 0;
      if (m)
        for (const auto& p : m->parameters())
          if (p.grad().defined()) s += sq.at(p.unsafeGetTensorImpl());
      return s;
    };
    at::Tensor sparse_sq = world_sparse_sq.defined() ? world_sparse_sq : model_->tables->grad_square_sum();
    f[0] = loss.detach().to(at::kDouble).item<double>();
    f[6] = module_sq(query_side);
    f[7] = module_sq(doc_side);
    f[1] = f[6] + f[7];
    f[2] = all_sq;
    f[3] = sparse_sq.defined() ? sparse_sq.to(at::kDouble).item<double>() : 0.0;
    f[4] = bce.defined() ? bce.detach().to(at::kDouble).item<double>() : 0.0;
    f[5] = sqdc.defined() ? sqdc.detach().to(at::kDouble).item<double>() : 0.0;
  } else {
    // On the device, then one copy to the host.
    at::Tensor zero = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(dev));
    auto square_sum_on_device = [&](const torch::nn::Module* m) {
      at::Tensor sq = zero.clone();
      if (m)
        for (const auto& p : m->parameters())
          if (p.grad().defined()) sq += p.grad().to(at::kDouble).pow(2).sum();
      return sq;
    };
    at::Tensor query_sq = square_sum_on_device(query_side);
    at::Tensor doc_sq = square_sum_on_device(doc_side);
    at::Tensor all_sq = zero.clone();
    for (auto& p : with_grad) all_sq += p.grad().to(at::kDouble).pow(2).sum();
    at::Tensor sparse_sq = world_sparse_sq.defined() ? world_sparse_sq : model_->tables->grad_square_sum();
    at::Tensor figures = at::stack({loss.detach().to(at::kDouble).reshape({}), query_sq + doc_sq, all_sq,
                                    sparse_sq.defined() ? sparse_sq.to(dev, at::kDouble).reshape({}) : zero,
                                    bce.defined() ? bce.detach().to(at::kDouble).reshape({}) : zero,
                                    sqdc.defined() ? sqdc.detach().to(at::kDouble).reshape({}) : zero, query_sq, doc_sq})
                             .to(at::kCPU);
    std::copy_n(figures.data_ptr<double>(), 8, f);
  }
  st.loss = f[0];
  st.encoder_grad_norm = std::sqrt(f[1]);
  st.query_grad_norm = std::sqrt(f[6]);
  st.document_grad_norm = std::sqrt(f[7]);
  st.grad_norm = std::sqrt(f[2]);
  st.bce = f[4];
  st.sqdc = f[5];
  const bool finite = std::isfinite(f[0]) && std::isfinite(f[2]) && std::isfinite(f[3]);
  const double scale = learning_rate_scale(phase_step);
  if (!finite) {
    // Nothing is updated: parameters, optimizer state and ID rows stay as after the last
    // good step; the deferred bank write is dropped too (it came from this step's forward).
    optimizer_->zero_grad();
    model_->tables->zero_touched();
    if (config_.optim.non_finite != "skip") {
      const int64_t at_step = phase_step + 1;
      std::string what = !std::isfinite(f[0]) ? "the loss is " + js_number(f[0])
                                              : "the gradient norm is " + js_number(std::sqrt(f[2] + f[3]));
      throw UserError(std::string(pretrain ? "pre-training" : "training") + " step " + std::to_string(at_step) + ": " +
                      what + " (bce " + js_number(f[4]) + ", sqdc " + js_number(f[5]) +
                      "); stopped before applying it, the model is as after step " + std::to_string(at_step - 1) +
                      ". Lower the learning rate (optim.lr " + js_number(config_.optim.lr) + ", optim.encoderLr " +
                      js_number(config_.optim.encoder_lr) + ") or set optim.nonFinite: 'skip' to skip such steps");
    }
    st.skipped = true;
  } else {
    if (out.deferred_write_ids.defined()) {
      if (dp) dist::write_bank_everywhere(*dp, *model_->bank, out.deferred_write_ids, out.deferred_write_rows, step_);
      else model_->bank->write(out.deferred_write_ids, out.deferred_write_rows, step_);
    }
    // Clipping as clip_grad_norm_ (coefficient max_norm / (norm + 1e-6), at most 1), from the
    // dense norm above, folded into the update.
    double grad_scale = 1.0;
    if (!with_grad.empty() && config_.optim.clip_norm > 0)
      grad_scale = std::min(1.0, config_.optim.clip_norm / (std::sqrt(f[2]) + 1e-6));
    for (size_t g = 0; g < optimizer_->param_groups().size(); ++g) {
      auto& opts = static_cast<torch::optim::AdamWOptions&>(optimizer_->param_groups()[g].options());
      opts.lr((g < 2 ? config_.optim.lr : config_.optim.encoder_lr) * scale);
    }
    optimizer_->step_scaled(grad_scale);
    model_->tables->sparse_step(scale);
    sync(dev);
  }
  st.t_optimizer = since(t_opt);

  if (pretrain) ++pretrain_step_;
  else ++step_;
  st.step = pretrain ? pretrain_step_ : step_;
  st.samples = dp ? b.global_size : b.size;
  st.lr = (pretrain ? config_.optim.encoder_lr : config_.optim.lr) * scale;
  st.unique_docs = out.unique_docs;
  st.encoded = out.encoded;
  st.encoded_with_grad = out.encoded_with_grad;
  st.target_misses = out.target_misses;
  st.t_encoder = out.t_encoder;
  st.t_bank = out.t_bank;
  st.t_backbone = out.t_backbone;
  st.t_total = since(t_start);
  if (st.step % kTrimEverySteps == 0) core::release_free_memory();
  return st;
}

PredictBatch Trainer::predict_step(data::BatchLoader& loader, bool encode_missing) {
  PredictBatch pb;
  data::Batch host;
  if (!loader.next(host)) {
    pb.done = true;
    core::release_free_memory();  // a pass ended: hand its activations' pages back
    return pb;
  }
  at::NoGradGuard no_grad;
  model_->eval();
  const at::Device dev = model_->device;
  data::Batch b = host.to(dev);
  auto rng = rng_for_step(2);
  ForwardOutput out;
  {
    AutocastScope autocast(config_.bf16 && dev.is_cuda());
    out = model_->forward(b, *documents_, ForwardMode{false, true, encode_missing}, step_, rng);
  }
  pb.logits = out.logits.to(at::kCPU, at::kFloat);
  pb.scores = at::sigmoid(pb.logits);
  pb.labels = host.label;
  pb.rows = host.rows;
  pb.query = host.query;
  pb.user = host.user;
  pb.doc = host.doc;
  pb.cold = host.cold;
  pb.target_misses = out.target_misses;
  if (out.q.defined()) pb.query_embeddings = out.q.to(at::kCPU, at::kFloat);
  return pb;
}

BankStats Trainer::bank_stats(bool reset) {
  BankStats s;
  auto& bank = model_->bank;
  if (bank.is_empty()) return s;
  s.coverage = bank->coverage();
  if (reset) bank->reset_coverage();
  if (group_ && group_->world_size() > 1) {  // the whole job's lookups
    std::vector<at::Tensor> c{at::tensor({s.coverage.target_lookups, s.coverage.target_hits, s.coverage.history_lookups,
                                          s.coverage.history_hits}, at::kLong)};
    group_->allreduce_sum_(c, "stats");
    const int64_t* v = c[0].data_ptr<int64_t>();
    s.coverage = {v[0], v[1], v[2], v[3]};
  }
  s.rows = bank->size();
  s.held = bank->rows().size(0);
  s.written = bank->written_count();
  s.mean_age = bank->mean_age(step_);
  return s;
}

double Trainer::staleness(int64_t probe) {
  auto rng = rng_for_step(3);
  model_->eval();
  return model_->staleness_probe(probe, *documents_, rng);
}

void Trainer::index_documents(const at::Tensor& ids) {
  model_->eval();
  at::Tensor all = ids.defined() ? ids : at::arange(config_.num_documents, at::kLong);
  if (group_ && group_->world_size() > 1 && !model_->tables->sharded()) {  // sharded: lookups in lockstep
    if (model_->bank.is_empty()) throw UserError("this model has no memory bank to index documents into");
    // Each rank encodes its share; every rank's bank receives all of them.
    const int64_t n = all.numel(), r = group_->rank(), k = group_->world_size();
    at::Tensor mine = all.to(at::kCPU, at::kLong).slice(0, r * n / k, (r + 1) * n / k);
    at::Tensor rows = model_->encode_documents(mine, *documents_);
    dist::write_bank_everywhere(*group_, *model_->bank, mine.to(model_->device), rows, step_);
    return;
  }
  model_->index_documents(all, *documents_, step_);
}

at::Tensor Trainer::document_embeddings(const at::Tensor& ids, bool from_bank) {
  at::NoGradGuard no_grad;
  if (!config_.uses_content()) throw UserError("this model has no document encoder (an ID-only preset)");
  if (from_bank) {
    if (model_->bank.is_empty()) throw UserError("this model has no memory bank");
    return std::get<0>(model_->bank->read(ids.to(model_->device, at::kLong))).to(at::kCPU);
  }
  model_->eval();
  return model_->encode_documents(ids, *documents_).to(at::kCPU, at::kFloat);
}

namespace {

// A buffer whose rows are sharded (or shardable): its name in the module, the tensor, the
// row count of the whole table or bank, and the sharding of this model.
struct RowBuffer {
  std::string name;
  at::Tensor tensor;
  int64_t total;
  TableSharding sharding;
};

std::vector<RowBuffer> row_buffers(LemurModelImpl& m) {
  std::vector<std::pair<at::Tensor, int64_t>> plain = m.tables->row_buffers();
  std::vector<TableSharding> shard(plain.size(), m.tables->sharding());
  if (!m.bank.is_empty())
    for (const auto& t : m.bank->bank_buffers()) {
      plain.emplace_back(t, m.bank->size());
      shard.push_back(m.bank->sharding());
    }
  std::vector<RowBuffer> out;
  for (const auto& b : m.named_buffers())
    for (size_t i = 0; i < plain.size(); ++i)
      if (plain[i].first.is_same(b.value())) out.push_back({b.key(), b.value(), plain[i].second, shard[i]});
  return out;
}

// Shards of this model's tables and bank (1: neither is sharded).
int shard_count(LemurModelImpl& m) {
  return std::max(m.tables->sharding().count, m.bank.is_empty() ? 1 : m.bank->sharding().count);
}

}  // namespace

std::string Trainer::shard_file_name(int rank, int count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "shard-%05d-of-%05d.pt", rank, count);
  return buf;
}

void Trainer::save_shard(const std::string& path) {
  if (shard_count(*model_) == 1) throw UserError("save_shard: this model's tables and bank are not sharded");
  torch::serialize::OutputArchive archive;
  for (auto& b : row_buffers(*model_)) {
    auto [lo, hi] = row_block(b.total, b.sharding);
    archive.write(b.name, b.tensor, /*is_buffer=*/true);
    archive.write(b.name + "@rows", at::tensor({lo, hi, b.total}, at::kLong));
  }
  archive.save_to(path);
}

void Trainer::save(const std::string& path) {
  torch::serialize::OutputArchive archive;
  const int shards = shard_count(*model_);
  if (shards > 1) archive.write("lemur_shards", at::full({1}, shards, at::kLong));
  model_->save(archive);
  torch::serialize::OutputArchive opt;
  optimizer_->save(opt);
  archive.write("optimizer", opt);
  archive.write("trainer_step", at::full({1}, step_, at::kLong));
  archive.write("trainer_pretrain_step", at::full({1}, pretrain_step_, at::kLong));
  archive.write("trainer_frozen", at::full({1}, model_->encoders_frozen() ? 1 : 0, at::kLong));
  archive.save_to(path);
}

void Trainer::load_shards(const std::string& path, int n) {
  at::NoGradGuard no_grad;
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  auto bufs = row_buffers(*model_);
  std::vector<at::Tensor> target(bufs.size());
  for (int r = 0; r < n; ++r) {
    bool needed = false;
    for (auto& b : bufs) {
      auto [lo, hi] = row_block(b.total, b.sharding);
      auto [s, e] = row_block(b.total, r, n);
      needed |= std::max(lo, s) < std::min(hi, e);
    }
    if (!needed) continue;
    const std::string file = dir + shard_file_name(r, n);
    torch::serialize::InputArchive a;
    try {
      a.load_from(file, at::kCPU);
    } catch (const c10::Error& e) {
      throw UserError("cannot read checkpoint shard " + file + ": " + describe_exception(e));
    }
    for (size_t i = 0; i < bufs.size(); ++i) {
      auto& b = bufs[i];
      auto [lo, hi] = row_block(b.total, b.sharding);
      at::Tensor src, rows;
      if (!a.try_read(b.name, src) || !a.try_read(b.name + "@rows", rows))
        throw UserError("checkpoint shard " + file + " lacks '" + b.name + "': it is from another model");
      const int64_t s = rows[0].item<int64_t>(), e = rows[1].item<int64_t>(), total = rows[2].item<int64_t>();
      if (total != b.total || src.size(0) != e - s)
        throw UserError("checkpoint shard " + file + ": '" + b.name + "' has rows [" + std::to_string(s) + ", " +
                        std::to_string(e) + ") of " + std::to_string(total) + ", this model's has " + std::to_string(b.total) + " rows");
      if (!target[i].defined()) {
        std::vector<int64_t> shape = src.sizes().vec();
        shape[0] = hi - lo;
        target[i] = at::zeros(shape, src.options());
      }
      const int64_t a0 = std::max(lo, s), a1 = std::min(hi, e);
      if (a0 < a1) target[i].slice(0, a0 - lo, a1 - lo).copy_(src.slice(0, a0 - s, a1 - s));
    }
  }
  for (size_t i = 0; i < bufs.size(); ++i) {
    if (!target[i].defined()) {  // this model holds no rows of it
      std::vector<int64_t> shape = bufs[i].tensor.sizes().vec();
      shape[0] = 0;
      target[i] = at::zeros(shape, bufs[i].tensor.options());
    }
    bufs[i].tensor.set_(target[i].to(bufs[i].tensor.device()));
  }
}

void Trainer::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, model_->device);
  } catch (const c10::Error& e) {
    throw UserError("cannot read checkpoint file " + path + ": " + describe_exception(e));
  }
  // torch's Module::load replaces tensors whatever their shape: compare every parameter and
  // buffer with what this configuration built, so a mismatch is an error, not a broken model.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& p : model_->named_parameters()) expected.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : model_->named_buffers()) expected.emplace_back(b.key(), b.value().sizes().vec());
  try {
    model_->load(archive);
  } catch (const c10::Error& e) {
    throw UserError("checkpoint " + path + " does not match this model's configuration: " +
                    describe_exception(e));
  }
  at::Tensor shards_t;
  if (archive.try_read("lemur_shards", shards_t)) {
    load_shards(path, static_cast<int>(shards_t.item<int64_t>()));
  } else {  // whole tables and bank in model.pt: keep this model's block
    model_->tables->shard_buffers();
    if (!model_->bank.is_empty()) model_->bank->shard_buffers();
  }
  auto params = model_->named_parameters();
  auto buffers = model_->named_buffers();
  for (const auto& [name, sizes] : expected) {
    const at::Tensor* t = params.find(name);
    if (!t) t = buffers.find(name);
    if (t && t->sizes().vec() != sizes)
      throw UserError("checkpoint " + path + " does not match this model's configuration: '" + name + "' is " +
                      c10::str(t->sizes()) + " in the checkpoint, " + c10::str(at::IntArrayRef(sizes)) +
                      " in this model");
  }
  at::Tensor step, pretrain_step, frozen;
  archive.read("trainer_step", step);
  archive.read("trainer_frozen", frozen);
  step_ = step.item<int64_t>();
  pretrain_step_ = archive.try_read("trainer_pretrain_step", pretrain_step) ? pretrain_step.item<int64_t>() : 0;
  if (frozen.item<int64_t>() != 0) model_->freeze_encoders();
  torch::serialize::InputArchive opt;
  archive.read("optimizer", opt);
  optimizer_->load(opt);
}

std::string Trainer::parameter_digest() {
  uint64_t h = 1469598103934665603ULL;
  for (auto& p : model_->parameters()) {
    at::Tensor c = p.detach().to(at::kCPU).contiguous();
    const auto* bytes = static_cast<const unsigned char*>(c.data_ptr());
    for (size_t i = 0, n = c.numel() * c.element_size(); i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

int64_t Trainer::parameter_count() {
  int64_t n = 0;
  for (auto& p : model_->parameters()) n += p.numel();
  return n;
}

int64_t Trainer::id_table_parameter_count() {
  int64_t n = 0;
  for (int t = 0; t < model_->tables->num_tables(); ++t) n += model_->tables->weight(t).numel();
  return n;
}

}  // namespace lemur::model

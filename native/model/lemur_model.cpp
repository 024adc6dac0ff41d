#include "model/lemur_model.h"

#include <ATen/ATen.h>

#include <chrono>
#include <map>
#include <set>

#include "core/js_error.h"
#include "distributed/all_gather_autograd.h"
#include "distributed/data_parallel.h"
#include "distributed/process_group.h"
#include "ops/expand_rows/expand_rows.h"

#ifdef LEMUR_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace lemur::model {

namespace {

using Clock = std::chrono::steady_clock;

// Wall time of a phase; on CUDA the device is synchronized at phase boundaries so the time
// is the phase's own (costs a little; the breakdown is what the benchmark reports).
struct PhaseTimer {
  const at::Device& device;
  Clock::time_point t0;
  explicit PhaseTimer(const at::Device& d) : device(d) { t0 = Clock::now(); }
  double lap() {
#ifdef LEMUR_WITH_CUDA
    if (device.is_cuda()) at::cuda::getCurrentCUDAStream(device.index()).synchronize();
#endif
    auto now = Clock::now();
    double s = std::chrono::duration<double>(now - t0).count();
    t0 = now;
    return s;
  }
};

at::Tensor uniform_like_rng(int64_t n, std::mt19937_64& rng, const at::Device& device) {
  at::Tensor r = at::empty({n}, at::kFloat);
  float* p = r.data_ptr<float>();
  std::uniform_real_distribution<float> dist(0.f, 1.f);
  for (int64_t i = 0; i < n; ++i) p[i] = dist(rng);
  return r.to(device);
}

}  // namespace

LemurModelImpl::LemurModelImpl(const ModelConfig& c) : config(c), device(c.device) {
  const int64_t e = c.embedding_dim;
  tables = register_module("tables", EmbeddingTables(c.id_dim, SparseOptimConfig{c.optim.sparse, c.optim.sparse_lr,
                                                                                   c.optim.sparse_eps, c.optim.beta1,
                                                                                   c.optim.beta2},
                                                     TableSharding{c.table_shard_rank, c.table_shard_count}));
  if (c.user_id) t_user = tables->add_table("user", c.user_buckets > 0 ? c.user_buckets : std::max<int64_t>(c.num_users, 1));
  bool any_id_seq = false;
  for (const auto& s : c.sequences) any_id_seq |= s.id_encoder != "none";
  if (c.doc_id || any_id_seq)
    t_doc = tables->add_table("doc", c.doc_buckets > 0 ? c.doc_buckets : std::max<int64_t>(c.num_documents, 1));
  for (const auto& f : c.categorical) t_cat.push_back(tables->add_table("cat_" + f.name, f.buckets));
  for (const auto& f : c.doc_categorical) t_doc_cat.push_back(tables->add_table("doccat_" + f.name, f.buckets));

  const int64_t ns_dim = ns_id_dim() + c.dense;
  if (c.uses_content()) {
    TextEncoderOptions d{c.vocab_size, c.doc_tokens, c.text_fields, e, 0, 0, 0, c.doc_encoder};
    if (c.has_images()) {
      d.image_h = c.image_h;
      d.image_w = c.image_w;
      d.image_c = c.image_c;
    }
    doc_encoder = register_module("doc_encoder", TextEncoder(d));
    if (c.has_query_text()) {
      TextEncoderOptions q{c.vocab_size, c.query_tokens, 1, e, 0, 0, 0, c.query_encoder};
      query_encoder = register_module("query_encoder", TextEncoder(q));
    } else {
      const int64_t tower_in = ns_dim - (c.doc_id ? c.id_dim : 0) - c.id_dim * static_cast<int64_t>(c.doc_categorical.size());
      if (tower_in <= 0)
        throw UserError("without query text the query embedding comes from a request tower over user and request "
                        "features, but the configuration has none (enable features.userId or add categorical/dense features)");
      request_tower = register_module("request_tower", FeedForward(tower_in, 2 * e, e));
    }
  }
  if (c.bank) {
    if (!c.uses_content()) throw UserError("the memory bank needs the document encoder (docEncoder.enabled)");
    bank = register_module("bank", MemoryBank(c.num_documents, e, c.bank_dtype == "bfloat16" ? at::kBFloat16 : at::kFloat,
                                              TableSharding{c.bank_shard_rank, c.bank_shard_count}));
    fresh_slot_ = at::full({c.num_documents}, -1, at::kLong);
  }

  const int64_t q_dim = c.uses_content() ? e : 0, d_dim = c.uses_content() ? e : 0;
  const int64_t qd_dim = c.uses_content() && c.query_doc_similarity ? 1 : 0;
  const int64_t context_dim = ns_dim + q_dim + d_dim + qd_dim;
  decoders = register_module("decoders", torch::nn::ModuleList());
  id_encoders = register_module("id_encoders", torch::nn::ModuleList());
  similarities = register_module("similarities", torch::nn::ModuleList());
  const bool hy = c.backbone.type == "hyformer";
  int64_t seq_features = 0, sim_features = 0;
  std::vector<HyFormerSequenceSpec> hy_specs;
  for (const auto& s : c.sequences) {
    if ((s.bank || s.similarity) && !c.bank)
      throw UserError("sequence '" + s.name + "' reads the memory bank, which is disabled (memoryBank.enabled)");
    if (s.similarity) {
      similarity_of.push_back(static_cast<int>(similarities->size()));
      auto sim = Similarity(c.similarity_length, c.action_types, s.use_action);
      sim_features += sim->features();
      similarities->push_back(sim);
    } else {
      similarity_of.push_back(-1);
    }
    if (hy) {
      const bool ids = s.id_encoder != "none";
      const int64_t item_dim = (ids ? c.id_dim : 0) + (s.bank ? e + (ids ? 1 : 0) : 0);  // + the miss flag
      if (item_dim == 0) throw UserError("sequence '" + s.name + "' has neither an ID path nor the bank path");
      hy_specs.push_back({item_dim, s.use_action, s.use_age});
      decoder_of.push_back(-1);
      id_encoder_of.push_back(-1);
      continue;
    }
    if (s.bank) {
      decoder_of.push_back(static_cast<int>(decoders->size()));
      if (c.decoder.queries_from != "context" && c.decoder.queries_from != "request")
        throw UserError("decoder.queriesFrom must be 'context' or 'request', got '" + c.decoder.queries_from + "'");
      const int64_t query_in = c.decoder.queries_from == "request" ? context_dim - d_dim - qd_dim : context_dim;
      decoders->push_back(SequenceDecoder(c.decoder, s, query_in, e, c.action_types));
      seq_features += c.decoder.queries * c.decoder.width;
    } else {
      decoder_of.push_back(-1);
    }
    if (s.id_encoder != "none") {
      id_encoder_of.push_back(static_cast<int>(id_encoders->size()));
      auto enc = IdSequenceEncoder(c.longer, s.id_encoder, c.id_dim, context_dim, s, c.action_types);
      seq_features += enc->output_tokens() * c.longer.width;
      id_encoders->push_back(enc);
    } else {
      id_encoder_of.push_back(-1);
    }
  }
  const int64_t features = context_dim + seq_features + sim_features;
  const auto& bb = c.backbone;
  if (bb.type == "mlp") {
    mlp = register_module("mlp", MlpHead(features, bb.mlp_hidden));
  } else if (bb.type == "rankmixer") {
    rankmixer = register_module("rankmixer", RankMixer(features, bb.tokens, bb.width, bb.layers, bb.ffn_mult, bb.mlp_hidden));
  } else if (bb.type == "hyformer") {
    hyformer = register_module("hyformer", HyFormer(bb, context_dim + sim_features, hy_specs, c.action_types));
  } else {
    throw UserError("backbone.type must be 'mlp', 'rankmixer' or 'hyformer', got '" + bb.type + "'");
  }
  to(device);
  if (fresh_slot_.defined()) fresh_slot_ = fresh_slot_.to(device);
}

int64_t LemurModelImpl::ns_id_dim() const {
  return config.id_dim * ((config.user_id ? 1 : 0) + (config.doc_id ? 1 : 0) + static_cast<int64_t>(config.categorical.size()) +
                          static_cast<int64_t>(config.doc_categorical.size()));
}

void LemurModelImpl::set_documents(const data::DocumentTable& docs) {
  if (docs.categorical.size() != config.doc_categorical.size())
    throw UserError("the documents table has " + std::to_string(docs.categorical.size()) +
                    " categorical columns, the configuration " + std::to_string(config.doc_categorical.size()));
  doc_categorical = docs.categorical_matrix().to(device);
}

at::Tensor LemurModelImpl::encode_content(const at::Tensor& ids, const data::DocumentTable& docs) {
  auto content = docs.gather(ids);
  at::Tensor tokens = content.tokens.to(device, true);
  at::Tensor images = content.images.defined() && config.has_images() ? content.images.to(device, true) : at::Tensor();
  at::Tensor has_image = images.defined() ? content.has_image.to(device, true) : at::Tensor();
  return doc_encoder(tokens, images, has_image);
}

at::Tensor LemurModelImpl::encode_documents(const at::Tensor& ids_in, const data::DocumentTable& docs, int64_t chunk) {
  at::NoGradGuard no_grad;
  at::Tensor ids = ids_in.to(at::kCPU, at::kLong);
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < ids.numel(); i += chunk) parts.push_back(encode_content(ids.slice(0, i, i + chunk), docs));
  if (parts.empty()) return at::zeros({0, config.embedding_dim}, at::TensorOptions().device(device));
  return at::cat(parts);
}

void LemurModelImpl::index_documents(const at::Tensor& ids, const data::DocumentTable& docs, int64_t step) {
  if (bank.is_empty()) throw UserError("this model has no memory bank to index documents into");
  at::Tensor all = ids.to(at::kCPU, at::kLong);
  for (int64_t i = 0; i < all.numel(); i += 4096) {
    at::Tensor part = all.slice(0, i, i + 4096);
    bank->write(part.to(device), encode_documents(part, docs), step);
  }
}

double LemurModelImpl::staleness_probe(int64_t n, const data::DocumentTable& docs, std::mt19937_64& rng) {
  if (bank.is_empty()) return 0.0;
  at::Tensor written = bank->written_all().to(at::kCPU).nonzero().squeeze(1);
  const int64_t w = written.numel();
  if (w == 0) return 0.0;
  n = std::min(n, w);
  // n distinct written rows, seeded (Floyd's algorithm: O(n), whatever the bank's size)
  std::set<int64_t> chosen;
  for (int64_t j = w - n; j < w; ++j) {
    int64_t t = std::uniform_int_distribution<int64_t>(0, j)(rng);
    chosen.insert(chosen.count(t) ? j : t);
  }
  std::vector<int64_t> pick(chosen.begin(), chosen.end());
  at::Tensor sel = at::from_blob(pick.data(), {n}, at::kLong).clone();
  at::Tensor ids = written.index_select(0, sel);
  at::Tensor fresh = encode_documents(ids, docs).to(at::kFloat);
  auto [rows, present] = bank->read(ids.to(device));
  return (l2_normalize(rows) * l2_normalize(fresh)).sum(1).mean().item<double>();
}

void LemurModelImpl::freeze_encoders() {
  for (auto& p : encoder_parameters()) p.requires_grad_(false);
  frozen_ = true;
}

std::vector<at::Tensor> LemurModelImpl::encoder_parameters() {
  std::vector<at::Tensor> out;
  auto add = [&](const torch::nn::Module* m) {
    for (auto& p : m->parameters()) out.push_back(p);
  };
  if (!query_encoder.is_empty()) add(query_encoder.get());
  if (!doc_encoder.is_empty()) add(doc_encoder.get());
  if (!request_tower.is_empty()) add(request_tower.get());
  return out;
}

std::vector<at::Tensor> LemurModelImpl::other_parameters() {
  auto enc = encoder_parameters();
  std::vector<at::Tensor> out;
  for (auto& p : parameters()) {
    bool is_enc = false;
    for (auto& q : enc) is_enc |= q.is_same(p);
    if (!is_enc) out.push_back(p);
  }
  return out;
}

at::Tensor LemurModelImpl::query_embedding(const data::Batch& b, const at::Tensor& ns_ids, const at::Tensor& dense,
                                           bool train) {
  c10::optional<at::NoGradGuard> no_grad;
  if (frozen_) no_grad.emplace();
  if (!query_encoder.is_empty()) return query_encoder(b.query_tokens);
  // No query text: the request plays the query (user and request features, no document id).
  std::vector<at::Tensor> parts;
  const int64_t id = config.id_dim;
  int64_t col = 0;
  if (config.user_id) parts.push_back(ns_ids.slice(1, col, col + id)), col += id;
  if (config.doc_id) col += id;
  const int64_t request_end = col + id * static_cast<int64_t>(config.categorical.size());
  if (request_end > col) parts.push_back(ns_ids.slice(1, col, request_end));
  if (dense.size(1) > 0) parts.push_back(dense);
  return l2_normalize(request_tower(at::cat(parts, 1)));
}

// The forward pass, stage by stage. Each stage has a narrow interface (what it reads from
// the batch, what it hands on), so a sharded implementation of the tables or the bank can
// replace one stage without touching the others.

IdFeatures LemurModelImpl::id_features(const data::Batch& b, bool train, std::mt19937_64& rng) {
  // Every lookup of a table deduplicated together.
  const int64_t B = b.size;
  IdFeatures f;
  f.doc_seq_emb.resize(config.sequences.size());
  std::vector<at::Tensor> ns_parts;
  if (t_user >= 0) ns_parts.push_back(tables->lookup(t_user, b.user, train));
  if (t_doc >= 0) {
    std::vector<at::Tensor> ids{b.doc};
    std::vector<int> which;
    for (size_t s = 0; s < config.sequences.size(); ++s)
      if (config.sequences[s].id_encoder != "none") {
        ids.push_back(b.sequence(config.sequences[s].name).ids);
        which.push_back(static_cast<int>(s));
      }
    auto embs = tables->lookup(t_doc, ids, train);
    if (config.doc_id) {
      at::Tensor cand = embs[0];
      if (train && config.doc_id_dropout > 0) {
        at::Tensor keep = uniform_like_rng(B, rng, device).ge(config.doc_id_dropout);
        cand = cand * keep.unsqueeze(1).to(cand.scalar_type());
      }
      ns_parts.push_back(cand);
    }
    for (size_t i = 0; i < which.size(); ++i) f.doc_seq_emb[which[i]] = embs[i + 1];
  }
  for (size_t c = 0; c < t_cat.size(); ++c)
    ns_parts.push_back(tables->lookup(t_cat[c], b.categorical.select(1, static_cast<int64_t>(c)), train));
  if (!t_doc_cat.empty()) {
    at::Tensor values = doc_categorical.index_select(0, b.doc);
    for (size_t c = 0; c < t_doc_cat.size(); ++c)
      ns_parts.push_back(tables->lookup(t_doc_cat[c], values.select(1, static_cast<int64_t>(c)), train));
  }
  f.ns_ids = ns_parts.empty() ? at::zeros({B, 0}, at::TensorOptions().device(device)) : at::cat(ns_parts, 1);
  f.dense = b.dense.to(f.ns_ids.scalar_type());
  return f;
}

TargetPlan LemurModelImpl::plan_targets(const data::Batch& b, const ForwardMode& mode, std::mt19937_64& rng,
                                        ForwardOutput& out) {
  const int64_t B = b.size;
  const at::Tensor& U = b.unique_docs;
  const int64_t nU = U.numel();
  out.unique_docs = nU;
  TargetPlan plan;
  if (!bank.is_empty()) {
    auto [rows, pres] = bank->read(U);
    plan.d_u = rows;
    plan.present = pres;
    if (mode.train) bank->count(plan.present, /*target=*/true);
    out.target_misses = nU - plan.present.sum().item<int64_t>();
  } else {
    plan.d_u = at::zeros({nU, config.embedding_dim}, at::TensorOptions().device(device));
    plan.present = at::zeros({nU}, at::TensorOptions().dtype(at::kBool).device(device));
  }
  const at::Tensor& present = plan.present;
  if (mode.train && !frozen_) {
    // Encoder sampling (spec 2.3), drawn per sample: each sample runs its target document's
    // encoder forward with probability p and backward with q <= p. A document is encoded
    // once (dedup) when any of its samples drew it, with gradient when any drew the
    // backward; every sample of it then uses that fresh vector. Documents the bank lacks
    // are always encoded: there is no other source for them.
    const double p = bank.is_empty() ? 1.0 : config.encode_forward;
    at::Tensor r = uniform_like_rng(B, rng, device);
    auto any_of_doc = [&](const at::Tensor& drawn) {
      return at::zeros({nU}, drawn.options().dtype(at::kLong)).index_add_(0, b.doc_inverse, drawn.to(at::kLong)).gt(0);
    };
    plan.encode = any_of_doc(r.lt(p)).logical_or(present.logical_not());
    plan.grad = any_of_doc(r.lt(config.encode_backward)).logical_and(plan.encode);
  } else {
    plan.encode = mode.encode_missing || bank.is_empty() ? present.logical_not() : at::zeros_like(present);
    plan.grad = at::zeros_like(present);
  }
  return plan;
}

TargetContent LemurModelImpl::encode_targets(const data::Batch& b, const data::DocumentTable& docs, const TargetPlan& plan,
                                             ForwardOutput& out) {
  const at::Tensor& U = b.unique_docs;
  TargetContent t;
  t.d_u = plan.d_u;
  t.idx_grad = plan.grad.nonzero().squeeze(1);
  at::Tensor idx_nograd = plan.encode.logical_and(plan.grad.logical_not()).nonzero().squeeze(1);
  t.enc_idx = plan.encode.nonzero().squeeze(1);
  out.encoded_with_grad = t.idx_grad.numel();
  out.encoded = out.encoded_with_grad + idx_nograd.numel();
  at::Tensor v_nograd;
  if (t.idx_grad.numel() > 0) t.v_grad = encode_content(U.index_select(0, t.idx_grad), docs);
  if (idx_nograd.numel() > 0) {
    at::NoGradGuard ng;
    v_nograd = encode_content(U.index_select(0, idx_nograd), docs);
  }
  if (t.v_grad.defined()) t.d_u = t.d_u.index_put({t.idx_grad}, t.v_grad.to(t.d_u.scalar_type()));
  if (v_nograd.defined()) t.d_u = t.d_u.index_put({idx_nograd}, v_nograd.to(t.d_u.scalar_type()));
  return t;
}

TargetContent LemurModelImpl::encode_targets_across_ranks(const data::Batch& b, const data::DocumentTable& docs,
                                                         const TargetPlan& plan, ForwardOutput& out) {
  dist::ProcessGroup& g = *group;
  const int n = g.world_size(), me = g.rank();
  const at::Tensor U = b.unique_docs.to(at::kCPU, at::kLong);
  TargetContent t;
  t.d_u = plan.d_u;
  t.idx_grad = plan.grad.nonzero().squeeze(1);
  t.enc_idx = plan.encode.nonzero().squeeze(1);
  const at::Tensor enc = t.enc_idx.to(at::kCPU);
  const at::Tensor grad_flag = plan.grad.to(at::kCPU).index_select(0, enc).to(at::kLong);
  // Who wants what: [doc, with gradient] from every rank.
  std::vector<int64_t> counts;
  at::Tensor all = g.allgather_rows(at::stack({U.index_select(0, enc), grad_flag}, 1), &counts, "dedup ids");
  std::map<int64_t, std::vector<int>> wanters;  // doc -> ranks (in rank order), sorted by doc
  std::map<int64_t, bool> grad_any;
  std::vector<int64_t> grad_docs;  // every rank's with-gradient documents, rank by rank, in its idx_grad order
  {
    const int64_t* a = all.data_ptr<int64_t>();
    int64_t row = 0;
    for (int r = 0; r < n; ++r)
      for (int64_t i = 0; i < counts[r]; ++i, ++row) {
        wanters[a[2 * row]].push_back(r);
        grad_any[a[2 * row]] = grad_any[a[2 * row]] || a[2 * row + 1] != 0;
        if (a[2 * row + 1] != 0) grad_docs.push_back(a[2 * row]);
      }
  }
  // The ids "gradient" freshness gathers rows for (gather_fresh): known from this exchange already.
  t.fresh_ids = at::tensor(grad_docs, at::kLong);
  // The encoding rank of a document: one of those that want it, spread by document id.
  auto encoder_of = [&](int64_t doc) { const auto& w = wanters[doc]; return w[static_cast<size_t>(doc % static_cast<int64_t>(w.size()))]; };
  bool world_grad = false;
  std::vector<int64_t> mine_g, mine_n;
  for (const auto& [doc, w] : wanters) {
    world_grad = world_grad || grad_any[doc];
    if (encoder_of(doc) == me) (grad_any[doc] ? mine_g : mine_n).push_back(doc);
  }
  out.encoded_with_grad = static_cast<int64_t>(mine_g.size());
  out.encoded = static_cast<int64_t>(mine_g.size() + mine_n.size());
  std::vector<at::Tensor> parts;
  if (!mine_g.empty()) parts.push_back(encode_content(at::tensor(mine_g, at::kLong), docs));
  if (!mine_n.empty()) {
    at::NoGradGuard ng;
    parts.push_back(encode_content(at::tensor(mine_n, at::kLong), docs));
  }
  at::Tensor mine = parts.empty() ? at::zeros({0, config.embedding_dim}, t.d_u.options().dtype(at::kFloat)) : at::cat(parts);
  mine = mine.to(at::kFloat);
  std::map<int64_t, int64_t> pos;  // doc -> row of `mine`
  for (size_t i = 0; i < mine_g.size(); ++i) pos[mine_g[i]] = static_cast<int64_t>(i);
  for (size_t i = 0; i < mine_n.size(); ++i) pos[mine_n[i]] = static_cast<int64_t>(mine_g.size() + i);
  // To rank r: the documents it wants that this rank encodes; from rank s: those this rank
  // wants that s encodes (both sides list them in document order).
  std::vector<std::vector<int64_t>> to(n), from(n);
  for (const auto& [doc, w] : wanters) {
    const int e = encoder_of(doc);
    for (int r : w) {
      if (e == me && r != me) to[r].push_back(pos[doc]);
      if (r == me && e != me) from[e].push_back(doc);
    }
  }
  std::vector<int64_t> send_idx, send_counts(n), recv_counts(n);
  std::map<int64_t, int64_t> recv_pos;
  int64_t k = 0;
  for (int r = 0; r < n; ++r) {
    send_idx.insert(send_idx.end(), to[r].begin(), to[r].end());
    send_counts[r] = static_cast<int64_t>(to[r].size());
    recv_counts[r] = static_cast<int64_t>(from[r].size());
    for (int64_t doc : from[r]) recv_pos[doc] = k++;
  }
  at::Tensor send = mine.index_select(0, at::tensor(send_idx, at::kLong).to(mine.device()));
  at::Tensor recv;
  if (world_grad) {
    // every rank takes part in the backward all-to-all: the input carries a (zero) gradient
    // path on every rank, and the received rows reach the loss on every rank
    if (!send.requires_grad()) send = send + doc_encoder->parameters()[0].sum().to(at::kFloat) * 0.0;
    recv = dist::alltoall_with_grad(g, send, send_counts, recv_counts, "dedup rows");
  } else {
    recv = g.alltoall_rows(send, send_counts, nullptr, "dedup rows").to(mine.device());
  }
  // This rank's encoded documents, in enc_idx order, from its own encodings or received ones.
  at::Tensor both = at::cat({mine, recv});
  std::vector<int64_t> src;
  const int64_t* u = U.data_ptr<int64_t>();
  const int64_t* ei = enc.data_ptr<int64_t>();
  for (int64_t j = 0; j < enc.numel(); ++j) {
    const int64_t doc = u[ei[j]];
    src.push_back(encoder_of(doc) == me ? pos[doc] : mine.size(0) + recv_pos[doc]);
  }
  at::Tensor rows = both.index_select(0, at::tensor(src, at::kLong).to(both.device())).to(t.d_u.scalar_type());
  const at::Tensor gflag = grad_flag.to(at::kBool).to(rows.device());
  const at::Tensor gpos = gflag.nonzero().squeeze(1), npos = gflag.logical_not().nonzero().squeeze(1);
  if (gpos.numel() > 0) {
    t.v_grad = rows.index_select(0, gpos);
    t.d_u = t.d_u.index_put({t.idx_grad}, t.v_grad);
  }
  if (npos.numel() > 0) t.d_u = t.d_u.index_put({t.enc_idx.index_select(0, npos.to(t.enc_idx.device()))}, rows.index_select(0, npos).detach());
  if (world_grad) t.d_u = t.d_u + recv.sum().to(t.d_u.scalar_type()) * 0.0;
  return t;
}

void LemurModelImpl::write_targets(const data::Batch& b, const ForwardMode& mode, int64_t step, const TargetContent& t) {
  // Before the history reads: an id encoded in this step is read fresh.
  const at::Tensor& U = b.unique_docs;
  if (mode.train && !bank.is_empty() && config.fresh_in_batch != "off") {
    at::Tensor ids = U.index_select(0, t.enc_idx), rows = t.d_u.index_select(0, t.enc_idx);
    if (group) dist::write_bank_everywhere(*group, *bank, ids, rows, step);  // every rank's targets read fresh
    else bank->write(ids, rows, step);
  }
  if (t.fresh_rows.defined() && t.fresh_rows.size(0) > 0)
    fresh_slot_.index_put_({t.fresh_ids}, at::arange(t.fresh_ids.numel(), fresh_slot_.options()));
}

void LemurModelImpl::gather_fresh(const data::Batch& b, const ForwardMode& mode, TargetContent& t) {
  if (!mode.train || config.stop_gradient || config.fresh_in_batch != "gradient" || bank.is_empty() || frozen_) return;
  if (!group) {
    if (t.idx_grad.numel() == 0) return;
    t.fresh_ids = b.unique_docs.index_select(0, t.idx_grad).to(fresh_slot_.device());
    t.fresh_rows = t.v_grad;
    return;
  }
  // Every rank gathers, even with nothing of its own, so that all take part in the
  // collective and in its backward (the input carries a zero gradient path on every rank;
  // the gathered rows reach every rank's loss, see forward()).
  at::Tensor mine = t.v_grad.defined() ? t.v_grad.to(at::kFloat)
                                       : at::zeros({0, config.embedding_dim}, t.d_u.options().dtype(at::kFloat));
  if (!mine.requires_grad()) mine = mine + doc_encoder->parameters()[0].sum().to(at::kFloat) * 0.0;
  t.fresh_rows = dist::all_gather_with_grad(*group, mine, "fresh rows");
  // the matching ids came with the dedup's exchange (encode_targets_across_ranks)
  t.fresh_ids = t.fresh_ids.to(fresh_slot_.device());
}

SequenceFeatures LemurModelImpl::sequence_features(const data::Batch& b, const data::DocumentTable& docs,
                                                   const ForwardMode& mode, const SequenceInputs& in, double& t_enc) {
  const int64_t B = b.size;
  SequenceFeatures f;
  const TargetContent& t = in.targets;
  // "gradient" freshness passes the ranking gradient into the encoder through the history;
  // the stop-gradient ablation must not, so there the fresh rows are the detached ones.
  const bool gradient_fresh = t.fresh_rows.defined() && t.fresh_rows.size(0) > 0;
  // A sharded bank: one all-to-all fetches the rows of every history id of this step
  // (deduplicated over all sequences, after this step's writes) into a step-local view, and
  // the sequences read it with their ids renumbered; the ID paths keep the document ids.
  MemoryBankImpl* hist = bank.is_empty() ? nullptr : bank.get();
  std::shared_ptr<MemoryBankImpl> view;
  std::vector<data::SequenceBatch> renumbered(config.sequences.size());
  at::Tensor fresh = fresh_slot_;
  if (hist && bank->sharded()) {
    std::vector<at::Tensor> all;
    std::vector<int64_t> sizes;
    for (const auto& sc : config.sequences) {
      const bool reads = sc.bank || sc.similarity;
      sizes.push_back(reads ? b.sequence(sc.name).ids.numel() : 0);
      if (reads) all.push_back(b.sequence(sc.name).ids.to(at::kCPU, at::kLong));
    }
    at::Tensor cat = all.empty() ? at::zeros({0}, at::kLong) : at::cat(all);
    auto [uniq, inverse] = ops::dedup_ids(cat);
    auto [rows, written] = bank->fetch(uniq);
    view = std::make_shared<MemoryBankImpl>(rows, written);
    hist = view.get();
    int64_t off = 0;
    for (size_t s = 0; s < config.sequences.size(); ++s) {
      renumbered[s] = b.sequence(config.sequences[s].name);
      if (config.sequences[s].bank || config.sequences[s].similarity)
        renumbered[s].ids = inverse.slice(0, off, off + sizes[s]).to(device);
      off += sizes[s];
    }
    if (gradient_fresh) fresh = fresh_slot_.index_select(0, uniq.to(fresh_slot_.device()));
  }
  auto bank_seq = [&](size_t s) -> const data::SequenceBatch& {
    return view ? renumbered[s] : b.sequence(config.sequences[s].name);
  };
  if (mode.train)
    for (size_t s = 0; s < config.sequences.size(); ++s)
      if (config.sequences[s].bank) bank->count(hist->present(bank_seq(s).ids), /*target=*/false);
  const bool reencode = config.history_source == "encode";
  for (size_t s = 0; s < config.sequences.size(); ++s) {
    const auto& sc = config.sequences[s];
    const auto& seq = b.sequence(sc.name);
    const auto& bseq = bank_seq(s);
    at::Tensor event_rows;  // history vectors when not (only) read from the bank
    if (reencode && (sc.bank || sc.similarity)) {
      // history_source "encode": every event re-encoded, with gradient
      auto t0 = Clock::now();
      auto [uniq, inv] = ops::dedup_ids(seq.ids);
      at::Tensor enc = uniq.numel() > 0 ? encode_content(uniq, docs) : at::zeros({0, config.embedding_dim}, t.d_u.options());
      event_rows = ops::expand_rows(enc.to(t.d_u.scalar_type()), inv);
      t_enc += std::chrono::duration<double>(Clock::now() - t0).count();
    } else if (!mode.train && mode.encode_missing && (sc.bank || sc.similarity)) {
      // Evaluation: events the bank lacks (documents newer than the last training step)
      // are encoded like missing targets are, as an indexer would have before serving.
      auto [rows, pres] = hist->read(bseq.ids);
      at::Tensor missing = pres.logical_not().nonzero().squeeze(1);
      if (missing.numel() > 0) {
        auto t0 = Clock::now();
        auto [uniq, inv] = ops::dedup_ids(seq.ids.index_select(0, missing));
        at::Tensor enc = encode_content(uniq, docs).to(rows.scalar_type());
        rows = rows.index_put({missing}, enc.index_select(0, inv));
        event_rows = rows;
        t_enc += std::chrono::duration<double>(Clock::now() - t0).count();
      }
    }
    if (config.stop_gradient && event_rows.defined()) event_rows = event_rows.detach();
    if (sc.similarity)
      f.similarity.push_back(similarities[similarity_of[s]]->as<Similarity>()->forward(in.d_rank, bseq, *hist, event_rows));
    if (!hyformer.is_empty()) {
      std::vector<at::Tensor> item_parts;
      at::Tensor mask;
      if (sc.id_encoder != "none") item_parts.push_back(in.ids.doc_seq_emb[s]);
      if (sc.bank) {
        at::Tensor rows, present;
        if (event_rows.defined()) {
          rows = event_rows;
          present = at::ones({rows.size(0)}, rows.options().dtype(at::kBool));
        } else {
          std::tie(rows, present) = hist->read(bseq.ids);
          if (gradient_fresh) apply_fresh_rows(rows, present, bseq.ids, fresh, t.fresh_rows);
        }
        item_parts.push_back(rows.to(in.ids.ns_ids.scalar_type()));
        // A miss: with an ID path the event still says something (its ID embedding), so it
        // stays, flagged; without one it is masked out of attention and pooling.
        if (sc.id_encoder != "none") item_parts.push_back(present.to(in.ids.ns_ids.scalar_type()).unsqueeze(1));
        else mask = present;
      }
      f.hyformer.push_back({at::cat(item_parts, 1), seq.offsets, mask, &seq});
      continue;
    }
    if (decoder_of[s] >= 0) {
      auto dec = decoders[decoder_of[s]]->as<SequenceDecoder>();
      at::Tensor tokens = event_rows.defined() ? dec->forward_rows(in.decoder_context, seq, event_rows, c10::nullopt)
                          : gradient_fresh     ? dec->forward(in.decoder_context, bseq, *hist, fresh, t.fresh_rows)
                                               : dec->forward(in.decoder_context, bseq, *hist);
      f.tokens.push_back(tokens.reshape({B, -1}));
    }
    if (id_encoder_of[s] >= 0)
      f.tokens.push_back(
          id_encoders[id_encoder_of[s]]->as<IdSequenceEncoder>()->forward(in.context, seq, in.ids.doc_seq_emb[s]).reshape({B, -1}));
  }
  if (gradient_fresh) fresh_slot_.index_fill_(0, t.fresh_ids, -1);
  return f;
}

at::Tensor LemurModelImpl::rank(const at::Tensor& context, const SequenceFeatures& f) {
  if (!hyformer.is_empty()) {
    std::vector<at::Tensor> ns{context};
    for (auto& t : f.similarity) ns.push_back(t);
    return hyformer(at::cat(ns, 1), f.hyformer);
  }
  std::vector<at::Tensor> feats{context};
  for (auto& t : f.tokens) feats.push_back(t);
  for (auto& t : f.similarity) feats.push_back(t);
  at::Tensor x = at::cat(feats, 1);
  return !rankmixer.is_empty() ? rankmixer(x) : mlp(x);
}

at::Tensor LemurModelImpl::rank_ids_only(const data::Batch& b, const IdFeatures& ids) {
  // ID-only models: no content, no bank.
  const int64_t B = b.size;
  at::Tensor context = at::cat({ids.ns_ids, ids.dense}, 1);
  SequenceFeatures f;
  for (size_t s = 0; s < config.sequences.size(); ++s) {
    const auto& seq = b.sequence(config.sequences[s].name);
    if (!hyformer.is_empty()) f.hyformer.push_back({ids.doc_seq_emb[s], seq.offsets, at::Tensor(), &seq});
    else if (id_encoder_of[s] >= 0)
      f.tokens.push_back(id_encoders[id_encoder_of[s]]->as<IdSequenceEncoder>()->forward(context, seq, ids.doc_seq_emb[s]).reshape({B, -1}));
  }
  return rank(context, f);
}

ForwardOutput LemurModelImpl::forward(const data::Batch& b, const data::DocumentTable& docs, const ForwardMode& mode,
                                      int64_t step, std::mt19937_64& rng) {
  ForwardOutput out;
  PhaseTimer timer(device);
  double t_enc = 0, t_bank = 0;
  const IdFeatures ids = id_features(b, mode.train, rng);
  if (!config.uses_content()) {
    out.logits = rank_ids_only(b, ids);
    out.t_backbone = timer.lap();
    return out;
  }

  // Query and target-document embeddings: bank rows, fresh encodings where sampled or missing.
  out.q = query_embedding(b, ids.ns_ids, ids.dense, mode.train);
  const TargetPlan plan = plan_targets(b, mode, rng, out);
  t_bank += timer.lap();
  TargetContent targets = group && mode.train ? encode_targets_across_ranks(b, docs, plan, out) : encode_targets(b, docs, plan, out);
  t_enc += timer.lap();
  out.d = ops::expand_rows(targets.d_u, b.doc_inverse);
  // Stop-gradient ablation: the ranker sees the embeddings, the encoders learn from SQDC only.
  at::Tensor d_rank = config.stop_gradient ? out.d.detach() : out.d;
  at::Tensor q_rank = config.stop_gradient ? out.q.detach() : out.q;
  if (!mode.ranking) {
    out.t_encoder = t_enc;
    out.t_bank = t_bank;
    return out;
  }
  gather_fresh(b, mode, targets);
  write_targets(b, mode, step, targets);
  t_bank += timer.lap();

  // The context every sequence module reads: request features, query, target, their cosine.
  std::vector<at::Tensor> context_parts{ids.ns_ids, ids.dense, q_rank};
  at::Tensor request_context = at::cat(context_parts, 1);  // request features + query embedding
  context_parts.push_back(d_rank);
  if (config.query_doc_similarity) context_parts.push_back((q_rank * d_rank.to(q_rank.scalar_type())).sum(1, /*keepdim=*/true));
  at::Tensor context = at::cat(context_parts, 1);
  const at::Tensor& decoder_context = config.decoder.queries_from == "request" ? request_context : context;

  const SequenceFeatures seqs = sequence_features(b, docs, mode, {ids, targets, context, decoder_context, d_rank}, t_enc);
  if (mode.train && !bank.is_empty() && config.fresh_in_batch == "off") {
    out.deferred_write_ids = b.unique_docs.index_select(0, targets.enc_idx);
    out.deferred_write_rows = targets.d_u.index_select(0, targets.enc_idx).detach();
  }
  out.logits = rank(context, seqs);
  // Data-parallel "gradient" freshness: the gathered rows stay in the graph on every rank,
  // even where no history read took one, so that every rank runs their backward collective.
  if (group && targets.fresh_rows.defined() && targets.fresh_rows.size(0) > 0)
    out.logits = out.logits + targets.fresh_rows.sum().to(out.logits.scalar_type()) * 0.0;
  out.t_backbone = timer.lap();
  out.t_encoder = t_enc;
  out.t_bank = t_bank;
  return out;
}

}  // namespace lemur::model

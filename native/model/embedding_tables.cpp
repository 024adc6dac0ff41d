#include "model/embedding_tables.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "distributed/process_group.h"
#include "ops/expand_rows/expand_rows.h"

namespace lemur::model {

EmbeddingTablesImpl::EmbeddingTablesImpl(int64_t dim, SparseOptimConfig optim, TableSharding sharding)
    : dim_(dim), optim_(std::move(optim)), sharding_(sharding) {
  if (optim_.kind != "adagrad" && optim_.kind != "adam")
    throw UserError("sparse optimizer must be 'adagrad' or 'adam', got '" + optim_.kind + "'");
  if (sharding_.count < 1 || sharding_.rank < 0 || sharding_.rank >= sharding_.count)
    throw UserError("ID tables: shard " + std::to_string(sharding_.rank) + " of " + std::to_string(sharding_.count) +
                    " is not a valid shard");
}

std::pair<int64_t, int64_t> row_block(int64_t total, int rank, int count) {
  const int64_t size = (total + count - 1) / count;
  const int64_t lo = std::min(total, rank * size);
  return {lo, std::min(total, lo + size)};
}

OwnerRoute route_to_owners(const at::Tensor& ids, int64_t block, int ranks) {
  at::Tensor owner = at::div(ids, block, "floor");
  at::Tensor counts = at::bincount(owner, {}, ranks);
  OwnerRoute r;
  r.order = std::get<1>(owner.sort(c10::optional<bool>(true), 0, false));
  r.counts.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + ranks);
  return r;
}

at::Tensor EmbeddingTablesImpl::init_rows(int64_t rows, int64_t lo, int64_t hi) const {
  // N(0, 0.01^2) drawn chunk by chunk from torch's generator, keeping rows [lo, hi): every
  // rank draws the same stream (so parameters initialized after the tables agree across
  // ranks and with one process) without ever holding the whole table. Chunks of 4096 rows
  // are multiples of 16 values, so the values equal one randn over the whole table.
  constexpr int64_t kChunk = 4096;
  at::Tensor out = at::empty({hi - lo, dim_});  // filled in place: no second copy of the shard
  for (int64_t c = 0; c < rows; c += kChunk) {
    const int64_t n = std::min(kChunk, rows - c);
    at::Tensor chunk = at::randn({n, dim_});
    const int64_t a = std::max(lo, c), b = std::min(hi, c + n);
    if (a < b) out.slice(0, a - lo, b - lo).copy_(chunk.slice(0, a - c, b - c)).mul_(0.01);
  }
  return out;
}

int EmbeddingTablesImpl::add_table(const std::string& name, int64_t rows) {
  if (rows < 1) throw UserError("embedding table '" + name + "' needs at least one row");
  const int idx = static_cast<int>(weights_.size());
  const auto [lo, hi] = row_block(rows, sharding_);
  rows_total_.push_back(rows);
  start_.push_back(lo);
  block_.push_back((rows + sharding_.count - 1) / sharding_.count);
  const int64_t local = hi - lo;
  names_.push_back(name);
  weights_.push_back(register_buffer(name + "_weight", init_rows(rows, lo, hi)));
  state_v_.push_back(register_buffer(name + "_v", at::zeros({local}, at::kFloat)));
  state_m_.push_back(optim_.kind == "adam" ? register_buffer(name + "_m", at::zeros({local, dim_}))
                                           : at::Tensor());
  trained_.push_back(register_buffer(name + "_trained", at::zeros({local}, at::kByte)));
  return idx;
}

at::Tensor EmbeddingTablesImpl::hash(int table, const at::Tensor& ids) const {
  const int64_t rows = rows_total_[table];
  // ids inside the table map to themselves; larger ids are mixed, then reduced (ids < 2^31,
  // so the product stays inside int64).
  at::Tensor mixed = ids.mul(static_cast<int64_t>(2654435761LL)).add(static_cast<int64_t>(table) * 40503).remainder(rows);
  return at::where(ids.lt(rows), ids, mixed);
}

std::vector<at::Tensor> EmbeddingTablesImpl::lookup(int table, const std::vector<at::Tensor>& ids,
                                                     bool train) {
  std::vector<int64_t> sizes;
  for (const auto& t : ids) sizes.push_back(t.numel());
  at::Tensor all = at::cat(ids).to(at::kLong);
  at::Tensor hashed = hash(table, all);
  auto [unique, inverse] = ops::dedup_ids(hashed);
  const bool grad = train && at::GradMode::is_enabled();
  at::Tensor rows;
  std::vector<int64_t> sent, received;
  at::Tensor served;
  if (sharded()) {
    rows = fetch_rows(table, unique, train, &sent, &received, &served);
  } else {
    rows = weights_[table].index_select(0, unique);
    if (!train) rows = rows * trained_[table].index_select(0, unique).unsqueeze(1).to(rows.scalar_type());
  }
  if (grad) {
    rows = rows.detach().requires_grad_(true);
    touched_.push_back({table, unique, rows, at::Tensor(), std::move(sent), std::move(received), served});
  }
  at::Tensor expanded = ops::expand_rows(rows, inverse);
  return expanded.split_with_sizes(sizes, 0);
}

at::Tensor EmbeddingTablesImpl::grad_square_sum() const {
  at::Tensor sum;
  for (const auto& t : touched_) {
    if (!t.gradient().defined()) continue;
    at::Tensor s = t.gradient().to(at::kDouble).pow(2).sum();
    sum = sum.defined() ? sum + s : s;
  }
  return sum;
}

at::Tensor EmbeddingTablesImpl::fetch_rows(int table, const at::Tensor& unique, bool train, std::vector<int64_t>* sent,
                                           std::vector<int64_t>* received, at::Tensor* served) {
  if (!group_)
    throw UserError("sharded ID tables: this model has not joined its process group (Lemur.create/load with distributed, then every rank trains)");
  const int n = sharding_.count;
  at::Tensor u = unique.to(at::kCPU, at::kLong);
  // unique is sorted, so the rows for each owner are already one contiguous run
  *sent = route_to_owners(u, block_[table], n).counts;
  at::Tensor asked = group_->alltoall_rows(u, *sent, received, "tables");
  *served = asked - start_[table];
  const at::Tensor local = served->to(weights_[table].device());
  at::Tensor rows = weights_[table].index_select(0, local);
  if (!train) rows = rows * trained_[table].index_select(0, local).unsqueeze(1).to(rows.scalar_type());
  return group_->alltoall_rows(rows, *received, nullptr, "tables").to(unique.device());
}

void EmbeddingTablesImpl::exchange_sharded_gradients() {
  if (!sharded()) return;
  std::vector<Touched> own;
  for (auto& t : touched_) {
    at::Tensor g = t.gradient().defined() ? t.gradient().to(at::kCPU, at::kFloat) : at::zeros({t.unique.size(0), dim_});
    at::Tensor got = group_->alltoall_rows(g, t.sent, nullptr, "tables");  // aligned with t.served
    auto [rows, inverse] = ops::dedup_ids(t.served);
    at::Tensor sum = at::zeros({rows.size(0), dim_}).index_add_(0, inverse, got).div_(sharding_.count);
    const at::Device dev = weights_[t.table].device();
    own.push_back({t.table, rows.to(dev), at::Tensor(), sum.to(dev), {}, {}, at::Tensor()});
  }
  touched_ = std::move(own);
}

std::vector<at::Tensor> EmbeddingTablesImpl::table_buffers() const {
  std::vector<at::Tensor> out;
  for (size_t t = 0; t < weights_.size(); ++t) {
    out.push_back(weights_[t]);
    out.push_back(state_v_[t]);
    if (state_m_[t].defined()) out.push_back(state_m_[t]);
    out.push_back(trained_[t]);
  }
  return out;
}

std::vector<std::pair<at::Tensor, int64_t>> EmbeddingTablesImpl::row_buffers() const {
  std::vector<std::pair<at::Tensor, int64_t>> out;
  for (size_t t = 0; t < weights_.size(); ++t)
    for (const auto* v : {&weights_, &state_v_, &state_m_, &trained_})
      if ((*v)[t].defined()) out.emplace_back((*v)[t], rows_total_[t]);
  return out;
}

void EmbeddingTablesImpl::shard_buffers() {
  if (!sharded()) return;
  at::NoGradGuard no_grad;
  for (size_t t = 0; t < weights_.size(); ++t) {
    const auto [lo, hi] = row_block(rows_total_[t], sharding_);
    for (auto* v : {&weights_, &state_v_, &state_m_, &trained_}) {
      at::Tensor& b = (*v)[t];
      if (b.defined() && b.size(0) == rows_total_[t]) b.set_(b.slice(0, lo, hi).clone());
    }
  }
}

std::vector<EmbeddingTablesImpl::TouchedRows> EmbeddingTablesImpl::touched_rows() const {
  std::vector<TouchedRows> out;
  for (const auto& t : touched_) out.push_back({t.table, t.unique, t.gradient()});
  return out;
}

void EmbeddingTablesImpl::replace_touched(std::vector<TouchedRows> rows) {
  touched_.clear();
  for (auto& r : rows) touched_.push_back({r.table, r.unique, at::Tensor(), r.grad, {}, {}, at::Tensor()});
}

void EmbeddingTablesImpl::sparse_step(double lr_scale) {
  at::NoGradGuard no_grad;
  const double lr = optim_.lr * lr_scale;
  for (auto& t : touched_) {
    if (!t.gradient().defined()) continue;
    at::Tensor g = t.gradient().to(at::kFloat);
    at::Tensor& w = weights_[t.table];
    at::Tensor& v = state_v_[t.table];
    trained_[t.table].index_fill_(0, t.unique, 1);
    // Several lookups of one table in a step touch overlapping rows: their gradients apply in
    // turn, each on the row's current state (deterministic, in lookup order).
    if (optim_.kind == "adagrad") {
      at::Tensor acc = v.index_select(0, t.unique) + g.pow(2).mean(1);
      v.index_copy_(0, t.unique, acc);
      at::Tensor upd = g * (lr / (acc.sqrt() + optim_.eps)).unsqueeze(1);
      w.index_copy_(0, t.unique, w.index_select(0, t.unique) - upd.to(w.scalar_type()));
    } else {
      at::Tensor& m = state_m_[t.table];
      at::Tensor m_new = m.index_select(0, t.unique) * optim_.beta1 + g * (1 - optim_.beta1);
      at::Tensor v_new = v.index_select(0, t.unique) * optim_.beta2 + g.pow(2).mean(1) * (1 - optim_.beta2);
      m.index_copy_(0, t.unique, m_new);
      v.index_copy_(0, t.unique, v_new);
      at::Tensor upd = m_new * (lr / (v_new.sqrt() + optim_.eps)).unsqueeze(1);
      w.index_copy_(0, t.unique, w.index_select(0, t.unique) - upd.to(w.scalar_type()));
    }
  }
  touched_.clear();
}

}  // namespace lemur::model

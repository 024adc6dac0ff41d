#include "model/embedding_tables.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/expand_rows/expand_rows.h"

namespace lemur::model {

EmbeddingTablesImpl::EmbeddingTablesImpl(int64_t dim, SparseOptimConfig optim)
    : dim_(dim), optim_(std::move(optim)) {
  if (optim_.kind != "adagrad" && optim_.kind != "adam")
    throw UserError("sparse optimizer must be 'adagrad' or 'adam', got '" + optim_.kind + "'");
}

int EmbeddingTablesImpl::add_table(const std::string& name, int64_t rows) {
  if (rows < 1) throw UserError("embedding table '" + name + "' needs at least one row");
  const int idx = static_cast<int>(weights_.size());
  names_.push_back(name);
  weights_.push_back(register_buffer(name + "_weight", at::randn({rows, dim_}) * 0.01));
  state_v_.push_back(register_buffer(name + "_v", at::zeros({rows}, at::kFloat)));
  state_m_.push_back(optim_.kind == "adam" ? register_buffer(name + "_m", at::zeros({rows, dim_}))
                                           : at::Tensor());
  trained_.push_back(register_buffer(name + "_trained", at::zeros({rows}, at::kByte)));
  return idx;
}

at::Tensor EmbeddingTablesImpl::hash(int table, const at::Tensor& ids) const {
  const int64_t rows = weights_[table].size(0);
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
  at::Tensor rows = weights_[table].index_select(0, unique);
  if (train && at::GradMode::is_enabled()) {
    rows = rows.detach().requires_grad_(true);
    touched_.push_back({table, unique, rows});
  } else if (!train) {
    rows = rows * trained_[table].index_select(0, unique).unsqueeze(1).to(rows.scalar_type());
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

std::vector<EmbeddingTablesImpl::TouchedRows> EmbeddingTablesImpl::touched_rows() const {
  std::vector<TouchedRows> out;
  for (const auto& t : touched_) out.push_back({t.table, t.unique, t.gradient()});
  return out;
}

void EmbeddingTablesImpl::replace_touched(std::vector<TouchedRows> rows) {
  touched_.clear();
  for (auto& r : rows) touched_.push_back({r.table, r.unique, at::Tensor(), r.grad});
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

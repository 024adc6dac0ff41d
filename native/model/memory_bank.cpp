#include "model/memory_bank.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "distributed/process_group.h"
#include "ops/expand_rows/expand_rows.h"
#include "ops/memory_bank/memory_bank_ops.h"

namespace lemur::model {

MemoryBankImpl::MemoryBankImpl(int64_t num_documents, int64_t dim, at::ScalarType dtype, TableSharding sharding)
    : sharding_(sharding), total_(num_documents) {
  block_ = (num_documents + sharding_.count - 1) / sharding_.count;
  const auto [lo, hi] = row_block(num_documents, sharding_);
  start_ = lo;
  const int64_t local = hi - lo;
  rows_ = register_buffer("rows", at::zeros({local, dim}, dtype));
  written_ = register_buffer("written", at::zeros({local}, at::kByte));
  last_step_ = register_buffer("last_step", at::full({local}, -1, at::kLong));
  counters_ = at::zeros({4}, at::kLong);
}

MemoryBankImpl::MemoryBankImpl(at::Tensor rows, at::Tensor written) : total_(rows.size(0)) {
  rows_ = std::move(rows);
  written_ = std::move(written);
  last_step_ = at::zeros({total_}, at::TensorOptions().dtype(at::kLong).device(rows_.device()));
  counters_ = at::zeros({4}, at::kLong);
}

dist::ProcessGroup& MemoryBankImpl::group() const {
  if (!group_) throw UserError("sharded memory bank: this model has not joined its process group");
  return *group_;
}

void MemoryBankImpl::write(const at::Tensor& ids, const at::Tensor& vectors, int64_t step) {
  if (!sharded()) {
    if (ids.numel() == 0) return;
    at::NoGradGuard no_grad;
    ops::bank_scatter(rows_, written_, last_step_, ids, vectors.detach(), step);
    return;
  }
  // Every rank calls this (a collective), also with no rows of its own to write.
  at::NoGradGuard no_grad;
  at::Tensor id = ids.to(at::kCPU, at::kLong);
  const OwnerRoute route = route_to_owners(id, block_, sharding_.count);  // keeps the order within one owner
  // Gloo has no bfloat16: rows travel as float32 (from their device: NCCL carries CUDA rows,
  // the group stages them through host memory for Gloo)
  at::Tensor got_ids = group().alltoall_rows(id.index_select(0, route.order), route.counts, nullptr, "bank");
  at::Tensor got_rows = group().alltoall_rows(vectors.detach().to(at::kFloat).index_select(0, route.order.to(vectors.device())), route.counts, nullptr, "bank");
  if (got_ids.numel() == 0) return;
  ops::bank_scatter(rows_, written_, last_step_, (got_ids - start_).to(rows_.device()), got_rows.to(rows_.device()), step);
}

std::tuple<at::Tensor, at::Tensor> MemoryBankImpl::fetch(const at::Tensor& ids) const {
  at::NoGradGuard no_grad;
  if (!sharded()) return {rows_.index_select(0, ids.to(rows_.device())), written_.index_select(0, ids.to(rows_.device()))};
  at::Tensor id = ids.to(at::kCPU, at::kLong);
  const OwnerRoute route = route_to_owners(id, block_, sharding_.count);
  const at::Tensor& order = route.order;
  std::vector<int64_t> received;
  at::Tensor asked = group().alltoall_rows(id.index_select(0, order), route.counts, &received, "bank") - start_;
  at::Tensor local = asked.to(rows_.device());
  at::Tensor rows = group().alltoall_rows(rows_.index_select(0, local).to(at::kFloat), received, nullptr, "bank");
  at::Tensor flags = group().alltoall_rows(written_.index_select(0, local), received, nullptr, "bank");
  // back to the order of `ids` (on the rows' device: CUDA when NCCL carried them)
  at::Tensor back = at::empty_like(order);
  back.index_put_({order}, at::arange(order.numel(), order.options()));
  back = back.to(rows.device());
  return {rows.index_select(0, back).to(rows_.device(), rows_.scalar_type()), flags.index_select(0, back).to(rows_.device())};
}

std::tuple<at::Tensor, at::Tensor> MemoryBankImpl::read(const at::Tensor& ids) const {
  at::NoGradGuard no_grad;
  if (!sharded()) {
    auto [rows, present] = ops::bank_gather(rows_, written_, ids);
    return {rows.to(at::kFloat), present};
  }
  auto [unique, inverse] = ops::dedup_ids(ids.to(at::kCPU, at::kLong));
  auto [rows, written] = fetch(unique);
  MemoryBankImpl view(rows, written);
  return view.read(inverse.to(rows.device()));
}

at::Tensor MemoryBankImpl::present(const at::Tensor& ids) const {
  if (sharded()) return std::get<1>(read(ids));
  return written_.index_select(0, ids).to(at::kBool);
}

void MemoryBankImpl::count(const at::Tensor& present_mask, bool target) {
  if (counters_.device() != rows_.device()) counters_ = counters_.to(rows_.device());
  const int64_t base = target ? 0 : 2;
  counters_[base].add_(present_mask.numel());
  counters_[base + 1].add_(present_mask.sum());
}

BankCoverage MemoryBankImpl::coverage() const {
  at::Tensor c = counters_.to(at::kCPU);
  const int64_t* p = c.data_ptr<int64_t>();
  return {p[0], p[1], p[2], p[3]};
}

void MemoryBankImpl::reset_coverage() { counters_.zero_(); }

at::Tensor MemoryBankImpl::written_all() const {
  if (!sharded()) return written_;
  return group().allgather_rows(written_, nullptr, "stats").to(written_.device());
}

int64_t MemoryBankImpl::written_count() const {
  if (!sharded()) return written_.sum().item<int64_t>();
  std::vector<at::Tensor> c{written_.sum().to(at::kCPU, at::kLong).reshape({1})};
  group().allreduce_sum_(c, "stats");
  return c[0].item<int64_t>();
}

double MemoryBankImpl::mean_age(int64_t step) const {
  at::Tensor w = written_.to(at::kBool);
  double n = static_cast<double>(w.sum().item<int64_t>());
  double steps = last_step_.masked_select(w).sum().item<double>();
  if (sharded()) {
    std::vector<at::Tensor> c{at::tensor({n, steps}, at::kDouble)};
    group().allreduce_sum_(c, "stats");
    n = c[0][0].item<double>();
    steps = c[0][1].item<double>();
  }
  if (n == 0) return 0.0;
  return (static_cast<double>(step) * n - steps) / n;
}

void MemoryBankImpl::shard_buffers() {
  if (!sharded()) return;
  at::NoGradGuard no_grad;
  const int64_t hi = row_block(total_, sharding_).second;
  for (at::Tensor* b : {&rows_, &written_, &last_step_})
    if (b->size(0) == total_) b->set_(b->slice(0, start_, hi).clone());
}

}  // namespace lemur::model

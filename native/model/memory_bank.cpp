#include "model/memory_bank.h"

#include <ATen/ATen.h>

#include "ops/memory_bank/memory_bank_ops.h"

namespace lemur::model {

MemoryBankImpl::MemoryBankImpl(int64_t num_documents, int64_t dim, at::ScalarType dtype) {
  rows_ = register_buffer("rows", at::zeros({num_documents, dim}, dtype));
  written_ = register_buffer("written", at::zeros({num_documents}, at::kByte));
  last_step_ = register_buffer("last_step", at::full({num_documents}, -1, at::kLong));
  counters_ = at::zeros({4}, at::kLong);
}

void MemoryBankImpl::write(const at::Tensor& ids, const at::Tensor& vectors, int64_t step) {
  if (ids.numel() == 0) return;
  at::NoGradGuard no_grad;
  ops::bank_scatter(rows_, written_, last_step_, ids, vectors.detach(), step);
}

std::tuple<at::Tensor, at::Tensor> MemoryBankImpl::read(const at::Tensor& ids) const {
  at::NoGradGuard no_grad;
  auto [rows, present] = ops::bank_gather(rows_, written_, ids);
  return {rows.to(at::kFloat), present};
}

at::Tensor MemoryBankImpl::present(const at::Tensor& ids) const {
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

int64_t MemoryBankImpl::written_count() const { return written_.sum().item<int64_t>(); }

double MemoryBankImpl::mean_age(int64_t step) const {
  at::Tensor w = written_.to(at::kBool);
  int64_t n = w.sum().item<int64_t>();
  if (n == 0) return 0.0;
  return (static_cast<double>(step) * n - last_step_.masked_select(w).sum().item<double>()) / n;
}

}  // namespace lemur::model

// The memory bank: the latest embedding of every document, with a written flag and the step
// of its last write. Written after encoding, read for every history id without gradient;
// misses (never written) are masked out of attention. Coverage is counted on device.
#pragma once
#include <torch/nn/module.h>

#include <tuple>

namespace lemur::model {

struct BankCoverage {
  int64_t target_lookups = 0, target_hits = 0;
  int64_t history_lookups = 0, history_hits = 0;
};

struct MemoryBankImpl : torch::nn::Module {
  MemoryBankImpl(int64_t num_documents, int64_t dim, at::ScalarType dtype);

  // rows[ids] = vectors (detached), written, last_step = step. Repeated id: last one wins.
  void write(const at::Tensor& ids, const at::Tensor& vectors, int64_t step);
  // rows (float32; zeros for misses) and present mask; no gradient.
  std::tuple<at::Tensor, at::Tensor> read(const at::Tensor& ids) const;
  at::Tensor present(const at::Tensor& ids) const;

  // Coverage bookkeeping: fraction of looked-up ids present, for targets and histories.
  void count(const at::Tensor& present_mask, bool target);
  BankCoverage coverage() const;  // since the last reset (one host sync)
  void reset_coverage();

  int64_t size() const { return rows_.size(0); }
  int64_t written_count() const;
  // Mean (step - last write step) over written rows.
  double mean_age(int64_t step) const;

  const at::Tensor& rows() const { return rows_; }
  const at::Tensor& written() const { return written_; }
  const at::Tensor& last_step() const { return last_step_; }

 private:
  at::Tensor rows_, written_, last_step_;
  at::Tensor counters_;  // [4] int64: target lookups, target hits, history lookups, history hits
};
TORCH_MODULE(MemoryBank);

}  // namespace lemur::model

// The memory bank: the latest embedding of every document, with a written flag and the step
// of its last write. Written after encoding, read for every history id without gradient;
// misses (never written) are masked out of attention. Coverage is counted on device.
#pragma once
#include <torch/nn/module.h>

#include <tuple>

#include "model/embedding_tables.h"  // TableSharding

namespace lemur::dist {
class ProcessGroup;
}

namespace lemur::model {

struct BankCoverage {
  int64_t target_lookups = 0, target_hits = 0;
  int64_t history_lookups = 0, history_hits = 0;
};

// Sharded by document id in a data-parallel job: rank r owns the rows of documents
// [r * ceil(D / n), (r + 1) * ceil(D / n)). Writes go to the owner and reads ask the owners
// for their (deduplicated) ids, by all-to-all; every call is then a collective that all
// ranks make together, as they do in lockstep training and evaluation.
struct MemoryBankImpl : torch::nn::Module {
  MemoryBankImpl(int64_t num_documents, int64_t dim, at::ScalarType dtype, TableSharding sharding = {});
  // A step-local view: rows and written flags of some documents (fetched from their
  // owners), addressed 0..K-1. Reads of a sharded bank inside one step go to such a view.
  MemoryBankImpl(at::Tensor rows, at::Tensor written);

  // rows[ids] = vectors (detached), written, last_step = step. Repeated id: last one wins.
  void write(const at::Tensor& ids, const at::Tensor& vectors, int64_t step);
  // rows (float32; zeros for misses) and present mask; no gradient.
  std::tuple<at::Tensor, at::Tensor> read(const at::Tensor& ids) const;
  at::Tensor present(const at::Tensor& ids) const;

  // Coverage bookkeeping: fraction of looked-up ids present, for targets and histories.
  void count(const at::Tensor& present_mask, bool target);
  BankCoverage coverage() const;  // since the last reset (one host sync)
  void reset_coverage();

  // Rows and written flags of `ids` (distinct), from their owners; the bank's dtype.
  std::tuple<at::Tensor, at::Tensor> fetch(const at::Tensor& ids) const;

  bool sharded() const { return sharding_.count > 1; }
  const TableSharding& sharding() const { return sharding_; }
  void connect(dist::ProcessGroup* group) { group_ = group; }
  // After loading a checkpoint of the whole bank: keep this rank's block.
  void shard_buffers();
  std::vector<at::Tensor> bank_buffers() const { return {rows_, written_, last_step_}; }
  // Written flags of every document (gathered when sharded).
  at::Tensor written_all() const;

  int64_t size() const { return total_; }
  int64_t written_count() const;
  // Mean (step - last write step) over written rows.
  double mean_age(int64_t step) const;

  const at::Tensor& rows() const { return rows_; }
  const at::Tensor& written() const { return written_; }
  const at::Tensor& last_step() const { return last_step_; }

 private:
  dist::ProcessGroup& group() const;
  at::Tensor rows_, written_, last_step_;
  TableSharding sharding_;
  dist::ProcessGroup* group_ = nullptr;
  int64_t total_ = 0, start_ = 0, block_ = 0;
  at::Tensor counters_;  // [4] int64: target lookups, target hits, history lookups, history hits
};
TORCH_MODULE(MemoryBank);

}  // namespace lemur::model
